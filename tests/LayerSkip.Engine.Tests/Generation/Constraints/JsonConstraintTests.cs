using System.Diagnostics;
using System.Text.Json;
using LayerSkip.Engine.Generation.Constraints;
using Microsoft.Extensions.AI;
using Xunit.Abstractions;

namespace LayerSkip.Engine.Tests.Generation.Constraints;

public enum Color { Red, Green, Blue }
public record Person(string Name, int Age);
public record Item(string Sku, double Price, long Qty, bool? Gift);
public record Order(string? Note, Person Buyer, Item[] Items, Color Color, DateTime When, Guid Id, Person? Other, decimal Total, List<int> Codes);
public record Node(string V, Node? Next);

public class JsonConstraintTests(ITestOutputHelper output)
{
    private static readonly Lazy<JsonConstraintVocabulary> SmallVocab = new(() => new(TestVocabularies.Small(), [TestVocabularies.Eos]));
    private static readonly Lazy<JsonConstraintVocabulary> LargeVocab = new(() => new(TestVocabularies.Large(), [TestVocabularies.Eos]));

    private static JsonElement Schema(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static void WalkAndValidate(JsonConstraintVocabulary vocab, JsonElement? schema, int seeds, JsonConstraintOptions? options = null)
    {
        for (var seed = 0; seed < seeds; seed++)
        {
            var c = new JsonConstraint(vocab, schema, options);
            var text = JsonTestHelpers.RandomWalk(c, seed);
            JsonDocument doc;
            try { doc = JsonDocument.Parse(text); }
            catch (JsonException e) { throw new Xunit.Sdk.XunitException($"seed {seed}: not JSON: {text}\n{e.Message}"); }
            using (doc)
                if (schema is { } s) JsonTestHelpers.Validate(doc.RootElement, s, s);
        }
    }

    [Fact]
    public void SpecialTokensAreNeverAllowedAndEosOnlyWhenComplete()
    {
        var c = new JsonConstraint(SmallVocab.Value);
        var mask = c.GetAllowedMask();
        Assert.False(mask[0]); // EOS: nothing produced yet
        Assert.False(mask[1]); // null text
        Assert.False(mask[2]); // empty text
        var texts = SmallVocab.Value.TokenTexts;
        c.Accept(texts.ToList().IndexOf("{\""));
        c.Accept(texts.ToList().IndexOf("a"));
        c.Accept(texts.ToList().IndexOf("\":"));
        c.Accept(texts.ToList().IndexOf("1"));
        Assert.False(c.IsComplete);
        c.Accept(texts.ToList().IndexOf("}\n")); // whitespace after the end within the token is fine
        Assert.True(c.IsComplete);
        Assert.True(c.IsClosed);
        mask = c.GetAllowedMask();
        Assert.Equal([0], Enumerable.Range(0, mask.Length).Where(i => mask[i])); // only EOS once closed
        Assert.False(c.TryAccept(texts.ToList().IndexOf(" ")));
        c.Accept(0);
        Assert.True(c.IsFinished);
        Assert.Equal("{\"a\":1}\n", c.Text);
    }

    [Fact]
    public void RejectsTokensThatWouldContinuePastTheValue()
    {
        var texts = SmallVocab.Value.TokenTexts.ToList();
        var c = new JsonConstraint(SmallVocab.Value);
        c.Accept(texts.IndexOf("["));
        c.Accept(texts.IndexOf("1"));
        Assert.False(c.IsAllowed(texts.IndexOf("],"))); // "]," would put a comma after the closed value
        Assert.True(c.IsAllowed(texts.IndexOf("12")));
        Assert.Throws<InvalidOperationException>(() => c.Accept(texts.IndexOf("],")));
        Assert.Equal("[1", c.Text); // unchanged
    }

    [Fact]
    public void RandomWalksWithoutSchemaParse_Small() => WalkAndValidate(SmallVocab.Value, null, 60, new JsonConstraintOptions { MaxDepth = 4 });

    [Fact]
    public void RandomWalksWithoutSchemaParse_Large() => WalkAndValidate(LargeVocab.Value, null, 15, new JsonConstraintOptions { MaxDepth = 4 });

    public static TheoryData<string> Schemas => new()
    {
        """{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]}""",
        """{"type":"object","properties":{"a":{"type":"string","enum":["x","xy","y z"]},"b":{"type":["number","null"]},"c":{"type":"array","items":{"type":"boolean"},"maxItems":3},"d":{"const":"fixed"}},"required":["c"],"additionalProperties":false}""",
        """{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"tags":{"type":"array","items":{"type":"string","maxLength":5}}},"required":["id","tags"]},"minItems":1,"maxItems":3}""",
        """{"anyOf":[{"type":"null"},{"type":"object","properties":{"v":{"enum":[1,2,3]}},"required":["v"]}]}""",
        """{"type":"object","additionalProperties":{"type":"string"}}""",
        """{"type":"object","properties":{"v":{"type":"string"},"next":{"type":["object","null"],"properties":{"v":{"type":"string"},"next":{"$ref":"#/properties/next"}},"required":["v","next"]}},"required":["v","next"]}""",
        """{"type":"string"}""",
        """{"type":"integer"}""",
    };

    [Theory]
    [MemberData(nameof(Schemas))]
    public void RandomWalksSatisfySchema_Small(string schema) => WalkAndValidate(SmallVocab.Value, Schema(schema), 40);

    [Theory]
    [MemberData(nameof(Schemas))]
    public void RandomWalksSatisfySchema_Large(string schema) => WalkAndValidate(LargeVocab.Value, Schema(schema), 6);

    private static void RoundTrip<T>(JsonConstraintVocabulary vocab, int seeds, JsonElement? schemaOverride = null)
    {
        var schema = schemaOverride ?? AIJsonUtilities.CreateJsonSchema(typeof(T));
        for (var seed = 0; seed < seeds; seed++)
        {
            var c = new JsonConstraint(vocab, schema);
            var text = JsonTestHelpers.RandomWalk(c, seed);
            using var doc = JsonDocument.Parse(text);
            JsonTestHelpers.Validate(doc.RootElement, schema, schema);
            try { Assert.NotNull(JsonSerializer.Deserialize<T>(text, AIJsonUtilities.DefaultOptions)); }
            catch (Exception e) { throw new Xunit.Sdk.XunitException($"seed {seed}: {typeof(T).Name} from {text}: {e.Message}"); }
        }
    }

    [Fact]
    public void CreateJsonSchemaRecordsRoundTrip()
    {
        RoundTrip<Person>(SmallVocab.Value, 30);
        RoundTrip<Person>(LargeVocab.Value, 5);
        RoundTrip<Order>(SmallVocab.Value, 30);
        RoundTrip<Order>(LargeVocab.Value, 3);
        RoundTrip<Node>(SmallVocab.Value, 20);
    }

    private sealed record Wrapper<T>(T Data);

    [Fact]
    public void GetResponseAsyncDataWrapperRoundTrips()
    {
        // GetResponseAsync<int> sends {"type":"object","properties":{"data":{"type":"integer"}},"additionalProperties":false,"required":["data"]}
        var schema = Schema("""{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"data":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"integer"}},"additionalProperties":false,"required":["data"]}""");
        RoundTrip<Wrapper<int>>(SmallVocab.Value, 20, schema);
        var list = Schema("""{"type":"object","properties":{"data":{"type":"array","items":{"type":"string"}}},"additionalProperties":false,"required":["data"]}""");
        RoundTrip<Wrapper<List<string>>>(SmallVocab.Value, 20, list);
        RoundTrip<Wrapper<Color>>(SmallVocab.Value, 10, Schema("""{"type":"object","properties":{"data":""" + AIJsonUtilities.CreateJsonSchema(typeof(Color)).GetRawText() + """},"additionalProperties":false,"required":["data"]}"""));
    }

    [Fact]
    public void LargeVocabularyWalkAlwaysHasAnAllowedToken()
    {
        var vocab = LargeVocab.Value;
        Assert.True(vocab.Count >= 50_000);
        var schema = AIJsonUtilities.CreateJsonSchema(typeof(Order));
        var c = new JsonConstraint(vocab, schema);
        var mask = new bool[vocab.Count];
        var rng = new Random(7);
        var sw = new Stopwatch();
        var steps = 0;
        long worst = 0;
        for (; steps < 200 && !c.IsClosed; steps++)
        {
            var t0 = sw.ElapsedTicks;
            sw.Start();
            c.ComputeAllowedMask(mask);
            sw.Stop();
            worst = Math.Max(worst, sw.ElapsedTicks - t0);
            var allowed = Enumerable.Range(0, mask.Length).Where(i => mask[i] && i != 0).ToList();
            Assert.True(allowed.Count > 0 || c.IsComplete, $"empty mask before completion after '{c.Text}'");
            if (allowed.Count == 0) break;
            var closing = allowed.Where(i => vocab.TokenTexts[i]!.IndexOfAny(['"', '}', ']', ',']) >= 0).ToList();
            var pool = closing.Count > 0 && rng.Next(2) == 0 ? closing : allowed;
            c.Accept(pool[rng.Next(pool.Count)]);
        }
        var avgMs = sw.Elapsed.TotalMilliseconds / steps;
        var worstMs = worst * 1000.0 / Stopwatch.Frequency;
        output.WriteLine($"{vocab.Count} tokens, {vocab.Trie.NodeCount} trie nodes: {steps} masks, avg {avgMs:F2} ms, worst {worstMs:F2} ms");
        // Timing is reported, never asserted (machines differ); the figure above is informational.
    }
}
