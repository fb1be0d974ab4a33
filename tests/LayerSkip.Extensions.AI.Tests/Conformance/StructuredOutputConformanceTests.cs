using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Conformance;

/// <summary><c>GetResponseAsync&lt;T&gt;</c>: with a JSON schema response format every answer deserializes (provider
/// behaviour); that the values are right needs an instruction-following model.</summary>
[Collection(ConformanceCollection.Name)]
public class StructuredOutputConformanceTests(ConformanceModel model)
{
    public enum Shade { Red, Green, Blue }
    public record Pet(string Name, int Age, Shade Colour);

    private async Task<T> Result<T>(string prompt, int seed, ChatOptions? options = null, bool native = true)
    {
        options ??= ConformanceModel.Options(seed, maxTokens: 60);
        var response = await model.Client.GetResponseAsync<T>(prompt, options, useJsonSchemaResponseFormat: native);
        Assert.True(response.TryGetResult(out var result), $"not a {typeof(T).Name}: {response.Text}");
        return result!;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task EveryShapeDeserializes(int seed)
    {
        Assert.NotNull((await Result<Pet>("Describe a pet.", seed)).Name);
        Assert.NotNull(await Result<Pet[]>("List some pets.", seed));
        await Result<int>("Pick a number.", seed);
        Assert.NotNull(await Result<string>("Say something.", seed));
        await Result<bool>("Yes or no?", seed);
        Assert.True(Enum.IsDefined(await Result<Shade>("Pick a colour.", seed)));
        Assert.NotNull(await Result<List<string>>("Name some things.", seed));
    }

    [Fact]
    public async Task StreamedJsonEqualsTheNonStreamedJson()
    {
        var options = ConformanceModel.Options(seed: 4, maxTokens: 60);
        options.ResponseFormat = ChatResponseFormat.ForJsonSchema<Pet>();
        var whole = await model.Client.GetResponseAsync("Describe a pet.", options);
        var streamed = await model.Client.GetStreamingResponseAsync("Describe a pet.", options).ToChatResponseAsync();
        Assert.Equal(whole.Text, streamed.Text);
    }

    [Fact]
    public async Task WithFunctionsTheToolRoundHappensThenTheAnswerIsJson()
    {
        var invoked = 0;
        using var client = new ChatClientBuilder(model.NewClient()).UseFunctionInvocation().Build();
        var options = ConformanceModel.Options(seed: 2, maxTokens: 60);
        options.Tools = [AIFunctionFactory.Create(() => { invoked++; return "Rex, 3, blue"; }, "find_pet", "Finds the pet")];
        options.ToolMode = ChatToolMode.RequireAny;
        var response = await client.GetResponseAsync<Pet>("Find the pet and describe it.", options);
        Assert.Equal(1, invoked);
        Assert.True(response.TryGetResult(out var pet), response.Text);
        Assert.NotNull(pet!.Name);
    }

    [InstructFact]
    public async Task ValuesAreRight()
    {
        Assert.Equal(5, await Result<int>("What is 2 + 3?", 0));
        Assert.True(await Result<bool>("Is Paris in France?", 0));
        Assert.False(await Result<bool>("Is Paris in Japan?", 0));
        Assert.Equal(Shade.Blue, await Result<Shade>("What colour is a clear daytime sky?", 0));
        Assert.Contains("Paris", await Result<string>("What is the capital of France?", 0));
        var pet = await Result<Pet>("Rex is a 3 year old green dog. Describe Rex.", 0);
        Assert.Equal(("Rex", 3, Shade.Green), (pet.Name, pet.Age, pet.Colour));
        Assert.Equal(3, (await Result<Pet[]>("List three pets.", 0)).Length);
    }

    [InstructFact]
    public async Task NonNativeStructuredOutputFollowsTheSchemaInThePrompt()
    {
        var pet = await Result<Pet>("Rex is a 3 year old green dog. Describe Rex.", 0, native: false);
        Assert.Equal("Rex", pet.Name);
    }

    [InstructFact]
    public async Task WithFunctionsTheAnswerUsesTheToolResult()
    {
        using var client = new ChatClientBuilder(model.NewClient()).UseFunctionInvocation().Build();
        var options = ConformanceModel.Options();
        options.Tools = [AIFunctionFactory.Create(() => "Rex, 3 years old, blue", "find_pet", "Finds the pet")];
        var pet = (await client.GetResponseAsync<Pet>("Find the pet and describe it.", options)).Result;
        Assert.Equal(("Rex", 3, Shade.Blue), (pet.Name, pet.Age, pet.Colour));
    }
}
