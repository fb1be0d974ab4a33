using System.Text.Json;
using LayerSkip.Engine.Generation.Constraints;

namespace LayerSkip.Engine.Tests.Generation.Constraints;

/// <summary>Strict schemas, tool-call grammars (a union over functions, wrapped in tags), and closing within a token budget.</summary>
public class OutputGrammarTests
{
    private static readonly Lazy<JsonConstraintVocabulary> SmallVocab = new(() => new(TestVocabularies.Small(), [TestVocabularies.Eos]));
    private static readonly Lazy<JsonConstraintVocabulary> LargeVocab = new(() => new(TestVocabularies.Large(20_000), [TestVocabularies.Eos]));
    private static readonly JsonLimits Limits = new(JsonConstraintOptions.Default);

    private static JsonElement Schema(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static bool Accepts(OutputGrammar g, string text)
    {
        var s = GrammarState.Start;
        foreach (var c in text)
            if (!GrammarMachine.Step(g, ref s, c, Limits)) return false;
        return GrammarMachine.IsComplete(g, in s);
    }

    private static readonly FunctionSchema Weather = new("get_weather", Schema("""{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}"""));
    private static readonly FunctionSchema Now = new("now", Schema("""{"type":"object","properties":{}}"""));
    private static readonly FunctionSchema Tag = new("tag", Schema("""{"type":"object","properties":{"labels":{"type":"array","items":{"type":"string"}}},"required":["labels"]}"""));

    [Fact]
    public void StrictObjectsAllowOnlyTheirListedProperties()
    {
        var empty = Schema("""{"type":"object","properties":{}}""");
        Assert.True(Accepts(OutputGrammar.Json(empty), "{}"));
        Assert.False(Accepts(OutputGrammar.Json(empty), "{\"x\":1}"));
        Assert.False(Accepts(OutputGrammar.Json(Schema("""{"type":"object"}""")), "{\"x\":1}"));
        Assert.True(Accepts(OutputGrammar.Json(empty, strict: false), "{\"x\":1}"));
        Assert.True(Accepts(OutputGrammar.Json(Schema("""{"type":"object","additionalProperties":true}""")), "{\"x\":1}"));
        var optional = Schema("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["b"]}""");
        Assert.True(Accepts(OutputGrammar.Json(optional), "{\"b\":\"x\"}"));
        Assert.True(Accepts(OutputGrammar.Json(optional), "{\"a\":1,\"b\":\"x\"}"));
        Assert.False(Accepts(OutputGrammar.Json(optional), "{\"a\":1}"));
        Assert.False(Accepts(OutputGrammar.Json(optional), "{\"b\":\"x\",\"c\":1}"));
        // schema-less JSON mode is an object
        Assert.True(Accepts(OutputGrammar.JsonObject(), "{\"any\":[1,{\"x\":null}]}"));
        Assert.False(Accepts(OutputGrammar.JsonObject(), "\"text\""));
        Assert.False(Accepts(OutputGrammar.JsonObject(), "3"));
    }

    [Fact]
    public void ToolCallArgumentsFollowTheSchemaOfTheFunctionNamed()
    {
        var g = OutputGrammar.FunctionCall([Weather, Now, Tag]);
        Assert.True(Accepts(g, """{"name":"get_weather","arguments":{"city":"Paris","days":2}}"""));
        Assert.True(Accepts(g, """{"name":"now","arguments":{}}"""));
        Assert.True(Accepts(g, """{"name":"tag","arguments":{"labels":["a","b"]}}"""));
        Assert.False(Accepts(g, """{"name":"now","arguments":{"city":"Paris"}}"""));
        Assert.False(Accepts(g, """{"name":"get_weather","arguments":{}}"""));
        Assert.False(Accepts(g, """{"name":"get_weather","arguments":{"labels":[]}}"""));
        Assert.False(Accepts(g, """{"name":"other","arguments":{}}"""));
        Assert.False(Accepts(g, """{"arguments":{},"name":"now"}"""));

        var llama = OutputGrammar.FunctionCall([Now], argumentsKey: "parameters");
        Assert.True(Accepts(llama, """{"name":"now","parameters":{}}"""));
        Assert.False(Accepts(llama, """{"name":"now","arguments":{}}"""));
    }

    [Fact]
    public void ATaggedUnionInASchemaPicksTheAlternativeByItsConstant()
    {
        var g = OutputGrammar.Json(Schema("""{"anyOf":[{"type":"object","properties":{"kind":{"const":"circle"},"r":{"type":"number"}},"required":["kind","r"]},{"type":"object","properties":{"kind":{"const":"square"},"side":{"type":"number"}},"required":["kind","side"]}]}"""));
        Assert.True(Accepts(g, """{"kind":"circle","r":1.5}"""));
        Assert.True(Accepts(g, """{"kind":"square","side":2}"""));
        Assert.False(Accepts(g, """{"kind":"circle","side":2}"""));
    }

    [Fact]
    public void AWrappedCallOrAJsonDocumentIsDecidedByTheFirstCharacter()
    {
        var call = OutputGrammar.FunctionCall([Weather], prefix: "<tool_call>\n", suffix: "\n</tool_call>");
        var doc = OutputGrammar.Json(Schema("""{"type":"object","properties":{"answer":{"type":"integer"}},"required":["answer"]}"""));
        var g = call.Or(doc);
        Assert.True(Accepts(g, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}\n</tool_call>"));
        Assert.True(Accepts(g, "{\"answer\":42}"));
        Assert.False(Accepts(g, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}"));
        Assert.False(Accepts(g, "<tool_call>\n{\"answer\":42}\n</tool_call>"));
        Assert.False(Accepts(g, "The answer is 42"));
    }

    [Fact]
    public void ShortestCompletionsCloseWhateverIsOpen()
    {
        var g = OutputGrammar.FunctionCall([Weather, Now, Tag], prefix: "<tool_call>\n", suffix: "\n</tool_call>");
        foreach (var (prefix, expected) in new[]
        {
            ("", "<tool_call>\n{\"name\":\"now\",\"arguments\":{}}\n</tool_call>"),
            ("<tool_call>\n{\"name\":\"get_we", "ather\",\"arguments\":{\"city\":\"\"}}\n</tool_call>"),
            ("<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Par", "\"}}\n</tool_call>"),
            ("<tool_call>\n{\"name\":\"tag\",\"arguments\":{\"labels\":[\"a\",\"b\\u00", "00\"]}}\n</tool_call>"),
            ("<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"P\",\"days\":-", "0}}\n</tool_call>"),
            ("<tool_call>\n{\"name\":\"now\",\"arguments\":{}}\n</tool", "_call>"),
        })
        {
            var s = GrammarState.Start;
            foreach (var c in prefix) Assert.True(GrammarMachine.Step(g, ref s, c, Limits), prefix);
            var completion = GrammarMachine.ShortestCompletions(g, s, Limits).MinBy(t => t.Length);
            Assert.Equal(expected, completion);
            Assert.True(Accepts(g, prefix + completion));
        }
    }

    /// <summary>Picks any allowed token but EOS (a model that never wants to stop) until only EOS is left.</summary>
    private static (string Text, int Tokens) AdversarialWalk(JsonConstraint c, int seed)
    {
        var rng = new Random(seed);
        var mask = new bool[c.VocabularySize];
        var tokens = 0;
        while (!c.IsClosed && tokens < 10_000)
        {
            c.ComputeAllowedMask(mask);
            var choices = Enumerable.Range(0, mask.Length).Where(i => mask[i] && i != TestVocabularies.Eos).ToList();
            if (choices.Count == 0)
            {
                Assert.True(mask[TestVocabularies.Eos], $"nothing allowed after \"{c.Text}\"");
                break;
            }
            c.Accept(choices[rng.Next(choices.Count)]);
            tokens++;
        }
        return (c.Text, tokens);
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 12)]
    [InlineData(false, 40)]
    [InlineData(true, 25)]
    public void AForcedCallClosesWithinTheBudgetWhateverTheModelPicks(bool large, int budget)
    {
        var vocab = large ? LargeVocab.Value : SmallVocab.Value;
        var grammar = OutputGrammar.FunctionCall([Weather, Now, Tag], prefix: "<tool_call>\n", suffix: "\n</tool_call>");
        for (var seed = 0; seed < (large ? 4 : 20); seed++)
        {
            var c = new JsonConstraint(vocab, grammar, tokenBudget: budget);
            var (text, tokens) = AdversarialWalk(c, seed);
            Assert.True(tokens <= c.TokenBudget, $"seed {seed}: {tokens} tokens over a budget of {c.TokenBudget}: {text}");
            Assert.True(c.IsComplete, text);
            Assert.StartsWith("<tool_call>\n", text);
            Assert.EndsWith("\n</tool_call>", text);
            using var doc = JsonDocument.Parse(text["<tool_call>\n".Length..^"\n</tool_call>".Length]);
            var name = doc.RootElement.GetProperty("name").GetString();
            var schema = new[] { Weather, Now, Tag }.Single(f => f.Name == name).ParametersSchema;
            JsonTestHelpers.Validate(doc.RootElement.GetProperty("arguments"), schema, schema);
        }
    }

    [Fact]
    public void ABudgetBelowTheShortestOutputIsRaisedToIt()
    {
        var grammar = OutputGrammar.FunctionCall([Weather], prefix: "<tool_call>\n", suffix: "\n</tool_call>");
        var c = new JsonConstraint(SmallVocab.Value, grammar, tokenBudget: 1);
        var shortest = c.TokensToClose;
        Assert.Equal(shortest, c.TokenBudget);
        var (text, tokens) = AdversarialWalk(c, 7);
        Assert.Equal(shortest, tokens);
        Assert.True(c.BudgetForcedClose);
        Assert.True(Accepts(grammar, text));
    }

    [Fact]
    public void JsonDocumentsCloseWithinTheBudgetAndValidate()
    {
        var schema = Schema("""{"type":"object","properties":{"name":{"type":"string"},"tags":{"type":"array","items":{"type":"string"},"minItems":2},"child":{"type":["object","null"],"properties":{"v":{"type":"integer"}},"required":["v"]}},"required":["name","tags","child"]}""");
        foreach (var budget in new[] { 5, 30, 80 })
            for (var seed = 0; seed < 10; seed++)
            {
                var c = new JsonConstraint(SmallVocab.Value, OutputGrammar.Json(schema), tokenBudget: budget);
                var (text, tokens) = AdversarialWalk(c, seed);
                Assert.True(tokens <= c.TokenBudget, $"{tokens} > {c.TokenBudget}: {text}");
                using var doc = JsonDocument.Parse(text);
                JsonTestHelpers.Validate(doc.RootElement, schema, schema);
            }
    }
}
