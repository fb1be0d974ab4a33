using System.ComponentModel;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Conformance;

/// <summary>Tool calls through <c>UseFunctionInvocation()</c>: forced calls are provider behaviour (the grammar makes
/// them well-formed on any model); calls the model chooses to make need an instruction-following model.</summary>
[Collection(ConformanceCollection.Name)]
public class FunctionCallingConformanceTests(ConformanceModel model)
{
    public record Address(string Street, string City);

    private readonly List<string> _invoked = [];

    private IChatClient Invoking() => new ChatClientBuilder(model.NewClient()).UseFunctionInvocation().Build();

    private async Task<ChatResponse> Ask(IChatClient client, string prompt, ChatOptions options, bool streaming) => streaming
        ? await client.GetStreamingResponseAsync(prompt, options).ToChatResponseAsync()
        : await client.GetResponseAsync(prompt, options);

    private AIFunction Parameterless() => AIFunctionFactory.Create(() => { _invoked.Add("now"); return "12:00"; }, "now", "Gets the time");
    private AIFunction WithParameters() => AIFunctionFactory.Create((string city, int days) => { _invoked.Add($"weather {city} {days}"); return "Sunny"; }, "get_weather", "Gets the weather");
    private AIFunction WithOptional() => AIFunctionFactory.Create((string city, [Description("Unit")] string unit = "C") => { _invoked.Add($"temp {city} {unit}"); return "21"; }, "get_temperature", "Gets the temperature");
    private AIFunction Nested() => AIFunctionFactory.Create((Address address) => { _invoked.Add($"ship {address.Street} {address.City}"); return "shipped"; }, "ship_to", "Ships to an address");
    private AIFunction WithArray() => AIFunctionFactory.Create((string[] names) => { _invoked.Add($"greet {names.Length}"); return "hello"; }, "greet", "Greets people");

    public static TheoryData<string, bool> Shapes() => new()
    {
        { "parameterless", false }, { "parameterless", true },
        { "parameters", false }, { "parameters", true },
        { "optional", false }, { "optional", true },
        { "nested", false }, { "nested", true },
        { "array", false }, { "array", true },
    };

    private AIFunction Tool(string shape) => shape switch
    {
        "parameterless" => Parameterless(),
        "parameters" => WithParameters(),
        "optional" => WithOptional(),
        "nested" => Nested(),
        _ => WithArray(),
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task ARequiredCallIsInvokedAndTheRoundCompletes(string shape, bool streaming)
    {
        using var client = Invoking();
        var tool = Tool(shape);
        var options = ConformanceModel.Options(seed: 11, maxTokens: 48);
        options.Tools = [tool];
        options.ToolMode = ChatToolMode.RequireAny;
        var response = await Ask(client, "Please use the tool.", options, streaming);
        Assert.Single(_invoked);
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal(tool.Name, call.Name);
        var result = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
        Assert.Equal(call.CallId, result.CallId);
        Assert.Null(result.Exception);
        Assert.Equal(ChatRole.Assistant, response.Messages[^1].Role);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RequireSpecificCallsOnlyThatFunction(bool streaming)
    {
        using var client = Invoking();
        for (var seed = 0; seed < 3; seed++)
        {
            _invoked.Clear();
            var options = ConformanceModel.Options(seed, maxTokens: 48);
            options.Tools = [Parameterless(), WithParameters(), WithArray()];
            options.ToolMode = ChatToolMode.RequireSpecific("greet");
            await Ask(client, "Say hello.", options, streaming);
            Assert.StartsWith("greet", Assert.Single(_invoked));
        }
    }

    [Fact]
    public async Task RequireAnyCallsOneOfTheFunctionsOffered()
    {
        for (var seed = 0; seed < 4; seed++)
        {
            var options = ConformanceModel.Options(seed, maxTokens: 48);
            options.Tools = [Parameterless(), WithParameters(), Nested()];
            options.ToolMode = ChatToolMode.RequireAny;
            var response = await model.Client.GetResponseAsync("Use a tool.", options);
            var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
            Assert.Contains(call.Name, new[] { "now", "get_weather", "ship_to" });
            Assert.Null(call.Exception);
        }
    }

    private static AIFunctionDeclaration OpenOptions() => AIFunctionFactory.CreateDeclaration("configure", "Configures",
        JsonDocument.Parse("""{"type":"object","properties":{"settings":{"type":"object"}},"required":["settings"]}""").RootElement.Clone());

    [Fact]
    public async Task StrictSchemasAreTheDefaultAndNonStrictIsAccepted()
    {
        for (var seed = 0; seed < 4; seed++)
        {
            var strict = ConformanceModel.Options(seed, maxTokens: 40);
            strict.Tools = [OpenOptions()];
            strict.ToolMode = ChatToolMode.RequireAny;
            var call = Assert.Single((await model.Client.GetResponseAsync("Configure it.", strict)).Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
            Assert.Equal("{}", ((JsonElement)call.Arguments!["settings"]!).GetRawText()); // no additionalProperties: closed

            var loose = strict.Clone();
            loose.AdditionalProperties = new() { ["strictJsonSchema"] = false };
            var looseCall = Assert.Single((await model.Client.GetResponseAsync("Configure it.", loose)).Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
            Assert.Null(looseCall.Exception);
            Assert.Equal(JsonValueKind.Object, ((JsonElement)looseCall.Arguments!["settings"]!).ValueKind);
        }
    }

    [InstructFact]
    public async Task TheModelCallsAToolWhenItNeedsOneAndUsesTheResult()
    {
        using var client = Invoking();
        var options = ConformanceModel.Options();
        options.Tools = [WithParameters()];
        var response = await client.GetResponseAsync("What is the weather in Paris for the next 2 days?", options);
        Assert.Contains(_invoked, i => i.StartsWith("weather Paris", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("sunny", response.Text, StringComparison.OrdinalIgnoreCase);
    }

    [InstructFact]
    public async Task SeveralCallsInOneTurnAreAllInvoked()
    {
        using var client = Invoking();
        var options = ConformanceModel.Options();
        options.Tools = [WithParameters()];
        await client.GetResponseAsync("Get the weather for 1 day in Paris and for 1 day in London. Call the tool once per city, both at once.", options);
        Assert.Contains(_invoked, i => i.Contains("Paris", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(_invoked, i => i.Contains("London", StringComparison.OrdinalIgnoreCase));
    }

    [InstructFact]
    public async Task NestedAndArrayArgumentsCarryTheRightValues()
    {
        using var client = Invoking();
        var options = ConformanceModel.Options();
        options.Tools = [Nested(), WithArray()];
        await client.GetResponseAsync("Ship to 1 Main St in Springfield, then greet Ann and Bob.", options);
        Assert.Contains(_invoked, i => i.Contains("Springfield"));
        Assert.Contains("greet 2", _invoked);
    }
}
