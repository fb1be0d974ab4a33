using System.ComponentModel;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Client;

/// <summary>
/// Forced tool calls and JSON output always finish well-formed on the real (tiny, untuned) model: the grammar names
/// only the tools offered, follows the named tool's schema, and closes within the token budget.
/// </summary>
public class ForcedOutputTests(ChatClientFixture fx) : IClassFixture<ChatClientFixture>
{
    [Description("Gets the current time")]
    private static string Now() => "12:00";

    [Description("Gets the weather in a city")]
    private static string Weather([Description("The city")] string city, [Description("Days ahead")] int days = 0) => $"Sunny in {city} in {days} days";

    [Description("Tags a story")]
    private static string Tag(string[] labels, string? note = null) => string.Join(",", labels) + note;

    private static readonly AIFunction NowTool = AIFunctionFactory.Create(Now, "now");
    private static readonly AIFunction WeatherTool = AIFunctionFactory.Create(Weather, "get_weather");
    private static readonly AIFunction TagTool = AIFunctionFactory.Create(Tag, "tag_story");
    private static readonly AIFunction[] AllTools = [NowTool, WeatherTool, TagTool];

    private async Task<(ChatResponse Response, FunctionCallContent Call)> ForcedCall(ChatOptions options, bool streaming)
    {
        ChatResponse response = streaming
            ? await fx.Client.GetStreamingResponseAsync("Once upon a time", options).ToChatResponseAsync()
            : await fx.Client.GetResponseAsync("Once upon a time", options);
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Null(call.Exception);
        Assert.DoesNotContain("<tool_call>", response.Text);
        Assert.DoesNotContain("</tool_call>", response.Text);
        return (response, call);
    }

    /// <summary>The call binds: the function runs with the parsed arguments.</summary>
    private static async Task AssertBinds(FunctionCallContent call)
    {
        var function = AllTools.Single(t => t.Name == call.Name);
        var result = await function.InvokeAsync(new AIFunctionArguments(call.Arguments));
        Assert.NotNull(result);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AParameterlessFunctionIsCalledWithEmptyArguments(bool streaming)
    {
        for (var seed = 0; seed < 3; seed++)
        {
            var (response, call) = await ForcedCall(new ChatOptions { Tools = [NowTool], ToolMode = ChatToolMode.RequireAny, Temperature = 1, Seed = seed, MaxOutputTokens = 60 }, streaming);
            Assert.Equal("now", call.Name);
            Assert.Empty(call.Arguments!);
            Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
            await AssertBinds(call);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WithSeveralToolsTheArgumentsFollowTheNamedToolsSchema(bool streaming)
    {
        var names = new HashSet<string>();
        for (var seed = 0; seed < 8; seed++)
        {
            var (_, call) = await ForcedCall(new ChatOptions { Tools = AllTools, ToolMode = ChatToolMode.RequireAny, Temperature = 1, Seed = seed, MaxOutputTokens = 80 }, streaming);
            names.Add(call.Name);
            if (call.Name == "get_weather") Assert.Equal(JsonValueKind.String, ((JsonElement)call.Arguments!["city"]!).ValueKind);
            if (call.Name == "tag_story") Assert.Equal(JsonValueKind.Array, ((JsonElement)call.Arguments!["labels"]!).ValueKind);
            if (call.Name == "now") Assert.Empty(call.Arguments!);
            await AssertBinds(call);
        }
        Assert.Subset(AllTools.Select(t => t.Name).ToHashSet(), names);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RequireSpecificCallsThatToolWithStringAndArrayArguments(bool streaming)
    {
        for (var seed = 0; seed < 3; seed++)
        {
            var (_, weather) = await ForcedCall(new ChatOptions { Tools = AllTools, ToolMode = ChatToolMode.RequireSpecific("get_weather"), Temperature = 1, Seed = seed, MaxOutputTokens = 40 }, streaming);
            Assert.Equal("get_weather", weather.Name);
            await AssertBinds(weather);
            var (_, tag) = await ForcedCall(new ChatOptions { Tools = AllTools, ToolMode = ChatToolMode.RequireSpecific("tag_story"), Temperature = 1, Seed = seed, MaxOutputTokens = 40 }, streaming);
            Assert.Equal("tag_story", tag.Name);
            await AssertBinds(tag);
        }
    }

    [Fact]
    public async Task SoakFiftySeededForcedCallsWithSmallBudgetsAllYieldAWellFormedCall()
    {
        for (var i = 0; i < 50; i++)
        {
            var options = new ChatOptions
            {
                Tools = AllTools,
                ToolMode = i % 5 == 0 ? ChatToolMode.RequireSpecific(AllTools[i % 3].Name) : ChatToolMode.RequireAny,
                Temperature = 1.2f, Seed = 1000 + i, MaxOutputTokens = 1 + i % 30,
            };
            var (response, call) = await ForcedCall(options, streaming: i % 2 == 1);
            await AssertBinds(call);
            Assert.True(response.FinishReason == ChatFinishReason.ToolCalls || response.FinishReason == ChatFinishReason.Length, $"request {i}: {response.FinishReason}");
        }
    }

    [Fact]
    public async Task ABudgetThatForcesTheCloseReportsLength()
    {
        var (response, call) = await ForcedCall(new ChatOptions { Tools = [TagTool], ToolMode = ChatToolMode.RequireAny, Temperature = 1, Seed = 5, MaxOutputTokens = 1 }, streaming: false);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        await AssertBinds(call);
    }

    [Fact]
    public async Task TheFunctionInvocationRoundCompletesForAParameterlessFunction()
    {
        var invoked = 0;
        var tool = AIFunctionFactory.Create(() => { invoked++; return "12:00"; }, "now", "Gets the current time");
        using var client = new ChatClientBuilder(new LayerSkipChatClient(fx.Engine)).UseFunctionInvocation().Build();
        foreach (var streaming in new[] { false, true })
        {
            var options = new ChatOptions { Tools = [tool], ToolMode = ChatToolMode.RequireAny, Temperature = 0.7f, Seed = 3, MaxOutputTokens = 30 };
            var response = streaming
                ? await client.GetStreamingResponseAsync("What time is it?", options).ToChatResponseAsync()
                : await client.GetResponseAsync("What time is it?", options);
            var result = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
            Assert.Equal("12:00", result.Result?.ToString());
            Assert.Equal(ChatRole.Assistant, response.Messages[^1].Role);
        }
        Assert.True(invoked >= 2);
    }

    public record Answer(string Text, int Score);

    [Fact]
    public async Task JsonWithToolsCallsTheToolFirstThenAnswersInJson()
    {
        var invoked = 0;
        var tool = AIFunctionFactory.Create(() => { invoked++; return "12:00"; }, "now", "Gets the current time");
        using var client = new ChatClientBuilder(new LayerSkipChatClient(fx.Engine)).UseFunctionInvocation().Build();
        for (var seed = 0; seed < 3; seed++)
        {
            var response = await client.GetResponseAsync<Answer>("What time is it?", new ChatOptions
            {
                Tools = [tool], ToolMode = ChatToolMode.RequireAny, Temperature = 0.8f, Seed = seed, MaxOutputTokens = 60,
            });
            Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionResultContent>().Any());
            Assert.True(response.TryGetResult(out var answer), response.Text);
            Assert.NotNull(answer!.Text);
        }
        Assert.True(invoked >= 3);
    }

    [Fact]
    public async Task JsonModeWithToolsInAutoModeMayCallOrAnswer()
    {
        var kinds = new HashSet<string>();
        for (var seed = 0; seed < 12; seed++)
        {
            var response = await fx.Client.GetResponseAsync("Once upon a time", new ChatOptions
            {
                Tools = [NowTool, WeatherTool], ResponseFormat = ChatResponseFormat.ForJsonSchema<Answer>(), Temperature = 1.2f, Seed = seed, MaxOutputTokens = 50,
            });
            var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
            if (calls.Count > 0)
            {
                Assert.Null(Assert.Single(calls).Exception);
                Assert.Equal("", response.Text.Trim());
                kinds.Add("call");
            }
            else
            {
                Assert.NotNull(JsonSerializer.Deserialize<Answer>(response.Text, AIJsonUtilities.DefaultOptions));
                kinds.Add("json");
            }
        }
        Assert.Contains("json", kinds);
    }

    [Theory]
    [InlineData("""{"type":"bogus"}""", "bogus")]
    [InlineData("""{"$ref":"#"}""", "$ref")]
    [InlineData("""{"enum":[]}""", "enum")]
    public async Task UnsupportedSchemaConstructsAreRejectedByName(string schema, string named)
    {
        var format = ChatResponseFormat.ForJsonSchema(JsonDocument.Parse(schema).RootElement.Clone(), "bad");
        var e = await Assert.ThrowsAnyAsync<ArgumentException>(() => fx.Client.GetResponseAsync("Hi", new ChatOptions { ResponseFormat = format }));
        Assert.Contains(named, e.Message);
        Assert.Contains("ResponseFormat", e.Message);
    }
}
