using System.Text.Json;
using LayerSkip.Engine.Generation.Constraints;

namespace LayerSkip.Engine.Tests.Generation.Constraints;

public class JsonRecognizerTests
{
    private static JsonElement Schema(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static bool Accepts(string text, JsonElement? schema = null, JsonConstraintOptions? options = null)
    {
        var r = JsonRecognizer.Create(schema, options);
        return r.TryAppend(text) && r.IsComplete;
    }

    private static bool PrefixOk(string text, JsonElement? schema = null)
        => JsonRecognizer.Create(schema).TryAppend(text);

    [Theory]
    [InlineData("{}")]
    [InlineData("[]")]
    [InlineData("{\"a\":1,\"b\":[true,false,null,\"x\"],\"c\":{\"d\":-0.5e-3}}")]
    [InlineData("  [ 1 , 2 ]  ")]
    [InlineData("\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uFFFF\"")]
    [InlineData("0")]
    [InlineData("-12.25E+2")]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("\"日本 é\"")]
    public void AcceptsValidJson(string json) => Assert.True(Accepts(json), json);

    [Theory]
    [InlineData("{,}")]
    [InlineData("[1,]")]
    [InlineData("{\"a\" 1}")]
    [InlineData("01")]
    [InlineData("1.")]
    [InlineData("-")]
    [InlineData("tru")]
    [InlineData("truex")]
    [InlineData("\"a\nb\"")]
    [InlineData("\"\\x\"")]
    [InlineData("\"\\u12g4\"")]
    [InlineData("\"\\ud800\"")]
    [InlineData("{} {}")]
    [InlineData("{}x")]
    [InlineData("[1 2]")]
    [InlineData("{'a':1}")]
    public void RejectsInvalidJson(string json) => Assert.False(Accepts(json), json);

    [Fact]
    public void WhitespaceRunsAreLimited()
    {
        var opts = new JsonConstraintOptions { MaxWhitespaceRun = 3 };
        Assert.True(Accepts("   {   \"a\"   :   1   }   ", options: opts));
        Assert.False(Accepts("{    }", options: opts));
        Assert.False(Accepts("{}    ", options: opts));
        Assert.True(Accepts("{\"a\":\"     \"}", options: opts)); // not inside strings
    }

    [Fact]
    public void CloneIsIndependent()
    {
        var r = JsonRecognizer.Create();
        Assert.True(r.TryAppend("{\"a\":["));
        var c = r.Clone();
        Assert.True(c.TryAppend("1]}"));
        Assert.True(c.IsComplete);
        Assert.False(r.IsComplete);
        Assert.True(r.CanAppend(']'));
        Assert.False(r.CanAppend('}'));
        Assert.True(r.TryAppend("]}"));
        Assert.True(r.IsClosed);
    }

    [Fact]
    public void TopLevelNumberIsCompleteButExtendable()
    {
        var r = JsonRecognizer.Create();
        Assert.True(r.TryAppend("42"));
        Assert.True(r.IsComplete);
        Assert.False(r.IsClosed);
        Assert.True(r.CanAppend('3'));
        Assert.True(r.TryAppend(' '));
        Assert.True(r.IsClosed);
    }

    [Fact]
    public void NumberDigitCaps()
    {
        var intSchema = Schema("""{"type":"integer"}""");
        Assert.True(Accepts("123456789", intSchema));
        Assert.False(Accepts("1234567890", intSchema));
        Assert.False(Accepts("1.5", intSchema));
        Assert.False(Accepts("1e3", intSchema));
        var num = Schema("""{"type":"number"}""");
        Assert.True(Accepts("1.5e3", num));
        Assert.False(Accepts("1e33", num));
        Assert.False(Accepts("1e5", num, new JsonConstraintOptions { MaxExponentDigits = 0 }));
    }

    [Fact]
    public void ObjectPropertiesInSchemaOrderWithRequired()
    {
        var s = Schema("""{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"},"c":{"type":"boolean"}},"required":["b"]}""");
        Assert.True(Accepts("{\"b\":1}", s));
        Assert.True(Accepts("{\"a\":\"x\",\"b\":1,\"c\":true}", s));
        Assert.True(Accepts("{ \"a\" : \"x\" , \"b\" : 1 }", s));
        Assert.False(Accepts("{}", s));                     // b required
        Assert.False(Accepts("{\"a\":\"x\"}", s));          // b required
        Assert.False(Accepts("{\"b\":1,\"a\":\"x\"}", s));  // schema order
        Assert.False(Accepts("{\"c\":true,\"b\":1}", s));   // cannot skip required b
        Assert.False(Accepts("{\"b\":1,\"d\":1}", s));      // unknown key
        Assert.False(Accepts("{\"b\":\"1\"}", s));          // wrong type
        Assert.False(PrefixOk("{\"x", s));                  // keys checked char by char
        Assert.False(PrefixOk("{\"b\":1,\"c\":true,", s));  // no property left after c
    }

    [Fact]
    public void KeysWithEscapesAndNonAscii()
    {
        var s = Schema("""{"type":"object","properties":{"q\"uote":{"type":"null"},"città":{"type":"null"}}}""");
        Assert.True(Accepts("{\"q\\\"uote\":null,\"citt\\u00e0\":null}", s));
        Assert.True(Accepts("{\"citt\\u00e0\":null}", s));
        Assert.False(Accepts("{\"q\":null}", s));
    }

    [Fact]
    public void AdditionalPropertiesFalseWithoutPropertiesMeansEmptyObject()
    {
        var s = Schema("""{"type":"object","additionalProperties":false}""");
        Assert.True(Accepts("{}", s));
        Assert.False(PrefixOk("{\"", s));
    }

    [Fact]
    public void FreeKeysFollowAdditionalPropertiesSchema()
    {
        var s = Schema("""{"type":"object","additionalProperties":{"type":"integer"}}""");
        Assert.True(Accepts("{\"x\":1,\"y\":2}", s));
        Assert.False(Accepts("{\"x\":\"1\"}", s));
    }

    [Fact]
    public void EnumsConstsAndNullable()
    {
        var e = Schema("""{"type":"string","enum":["Red","Green","GreenYellow"]}""");
        Assert.True(Accepts("\"Green\"", e));
        Assert.True(Accepts("\"GreenYellow\"", e));
        Assert.False(Accepts("\"Gree\"", e));
        Assert.False(Accepts("\"Blue\"", e));
        var nums = Schema("""{"enum":[1,12,2.5,null]}""");
        Assert.True(Accepts("1", nums));
        Assert.True(Accepts("12", nums));
        Assert.True(Accepts("2.5", nums));
        Assert.True(Accepts("null", nums));
        Assert.False(Accepts("13", nums));
        var c = Schema("""{"const":{"k":[1,"v"]}}""");
        Assert.True(Accepts("{\"k\":[1,\"v\"]}", c));
        Assert.False(Accepts("{\"k\":[1]}", c));
        var n = Schema("""{"type":["string","null"]}""");
        Assert.True(Accepts("null", n));
        Assert.True(Accepts("\"x\"", n));
        Assert.False(Accepts("1", n));
    }

    [Fact]
    public void ArraysWithItemsAndBounds()
    {
        var s = Schema("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2}""");
        Assert.True(Accepts("[1]", s));
        Assert.True(Accepts("[1,2]", s));
        Assert.False(Accepts("[]", s));
        Assert.False(Accepts("[1,2,3]", s));
        Assert.False(Accepts("[\"a\"]", s));
    }

    [Fact]
    public void StringLengthBounds()
    {
        var s = Schema("""{"type":"string","minLength":2,"maxLength":3}""");
        Assert.True(Accepts("\"ab\"", s));
        Assert.True(Accepts("\"a\\nb\"", s));
        Assert.False(Accepts("\"a\"", s));
        Assert.False(Accepts("\"abcd\"", s));
    }

    [Fact]
    public void StringFormats()
    {
        var dt = Schema("""{"type":["string","null"],"format":"date-time"}""");
        Assert.True(Accepts("\"2024-02-28T23:59:09\"", dt));
        Assert.True(Accepts("\"1999-12-01T00:00:00Z\"", dt));
        Assert.True(Accepts("null", dt));
        Assert.False(Accepts("\"2024-13-01T00:00:00\"", dt));
        Assert.False(Accepts("\"2024-02-30T00:00:00\"", dt));
        Assert.False(Accepts("\"2024-02-01T24:00:00\"", dt));
        Assert.False(Accepts("\"2024-02-01\"", dt));
        Assert.True(Accepts("\"2024-02-01\"", Schema("""{"type":"string","format":"date"}""")));
        Assert.True(Accepts("\"0123abcd-0000-4000-8000-00000000beef\"", Schema("""{"type":"string","format":"uuid"}""")));
        Assert.True(Accepts("\"anything\"", Schema("""{"type":"string","format":"email"}""")));
    }

    [Fact]
    public void AnyOfMergesSimpleAlternatives()
    {
        var s = Schema("""{"anyOf":[{"type":"integer"},{"type":"string","enum":["auto"]},{"type":"object","properties":{"x":{"type":"boolean"}},"required":["x"]}]}""");
        Assert.True(Accepts("3", s));
        Assert.True(Accepts("\"auto\"", s));
        Assert.True(Accepts("{\"x\":true}", s));
        Assert.False(Accepts("\"other\"", s));
        Assert.False(Accepts("true", s));
        Assert.False(Accepts("{}", s));
    }

    [Fact]
    public void RecursiveRefs()
    {
        var s = Schema("""{"type":"object","properties":{"v":{"type":"string"},"next":{"type":["object","null"],"properties":{"v":{"type":"string"},"next":{"$ref":"#/properties/next"}},"required":["v","next"]}},"required":["v","next"]}""");
        Assert.True(Accepts("{\"v\":\"a\",\"next\":{\"v\":\"b\",\"next\":{\"v\":\"c\",\"next\":null}}}", s));
        Assert.False(Accepts("{\"v\":\"a\",\"next\":{\"v\":\"b\"}}", s));
        var defs = Schema("""{"$defs":{"P":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}},"type":"array","items":{"$ref":"#/$defs/P"}}""");
        Assert.True(Accepts("[{\"n\":1},{\"n\":2}]", defs));
        Assert.False(Accepts("[{}]", defs));
    }

    [Theory]
    [InlineData("""{"type":"bogus"}""", "'bogus'")]
    [InlineData("""{"type":["string","bogus"]}""", "'bogus'")]
    [InlineData("""{"enum":[]}""", "enum")]
    [InlineData("""{"type":"string","enum":[1,2]}""", "enum")]
    [InlineData("""{"$ref":"#"}""", "'#'")]
    [InlineData("""{"$ref":"http://elsewhere/x"}""", "http://elsewhere/x")]
    [InlineData("""{"$ref":"#/nowhere"}""", "#/nowhere")]
    [InlineData("""{"type":"object","properties":{"a":false}}""", "#/properties/a")]
    [InlineData("""{"type":"object","properties":{"self":{"$ref":"#"}},"required":["self"]}""", "no finite")]
    public void SchemasTheConstraintCannotHonourAreRejectedByName(string schema, string named)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => OutputGrammar.Json(Schema(schema)));
        Assert.Contains(named, e.Message);
    }

    [Theory]
    [InlineData("""{"properties":5,"required":"x","items":[1],"minItems":"a"}""")]
    [InlineData("""{"anyOf":[]}""")]
    [InlineData("""true""")]
    [InlineData("""{"not":{},"if":{},"pattern":"^a","format":"date-time","allOf":[{},{}]}""")]
    public void UnsupportedOrMalformedSchemasNeverThrowAndLoosen(string schema)
    {
        Assert.True(Accepts("{\"a\":[1,\"x\",null]}", Schema(schema)));
    }
}
