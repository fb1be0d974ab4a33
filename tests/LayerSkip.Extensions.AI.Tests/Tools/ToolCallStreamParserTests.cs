using System.Text;
using System.Text.Json;
using LayerSkip.Extensions.AI.Tools;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Tools;

public class ToolCallStreamParserTests
{
    private static Func<string> Ids()
    {
        var n = 0;
        return () => "call_" + n++;
    }

    /// <summary>Feeds chunks, then flushes; checks no text event ever contains tag characters from a call and returns
    /// (all text concatenated, calls).</summary>
    private static (string Text, List<FunctionCallContent> Calls, List<ToolCallParseEvent> Events) Run(ToolCallFormat format, params string[] chunks)
    {
        var p = new ToolCallStreamParser(format, Ids());
        var events = new List<ToolCallParseEvent>();
        foreach (var c in chunks) events.AddRange(p.Append(c));
        events.AddRange(p.Flush());
        var text = new StringBuilder();
        var calls = new List<FunctionCallContent>();
        foreach (var e in events)
        {
            if (e.FunctionCall is { } call) calls.Add(call);
            else text.Append(e.Text);
        }
        return (text.ToString(), calls, events);
    }

    private static string Arg(FunctionCallContent c, string name) => ((JsonElement)c.Arguments![name]!).ToString();

    private const string Hermes = "Let me check.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}\n</tool_call>Done <3";

    [Fact]
    public void HermesCallInOneChunk()
    {
        var (text, calls, events) = Run(ToolCallFormat.Hermes, Hermes);
        Assert.Equal("Let me check.Done <3", text);
        var call = Assert.Single(calls);
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("call_0", call.CallId);
        Assert.Null(call.Exception);
        Assert.Equal("Paris", Arg(call, "city"));
        Assert.Equal(JsonValueKind.Number, ((JsonElement)call.Arguments!["days"]!).ValueKind);
        Assert.Equal(3, events.Count);
        Assert.Equal("Let me check.", events[0].Text); // order preserved
        Assert.True(events[1].IsFunctionCall);
    }

    [Fact]
    public void HermesTagSplitAtEveryPosition()
    {
        for (var i = 0; i <= Hermes.Length; i++)
        {
            for (var j = i; j <= Hermes.Length; j += 7)
            {
                var (text, calls, _) = Run(ToolCallFormat.Hermes, Hermes[..i], Hermes[i..j], Hermes[j..]);
                Assert.Equal("Let me check.Done <3", text);
                Assert.Equal("Paris", Arg(Assert.Single(calls), "city"));
            }
        }
    }

    [Fact]
    public void HermesCharByCharNeverLeaksTagText()
    {
        var p = new ToolCallStreamParser(ToolCallFormat.Hermes, Ids());
        var shown = new StringBuilder();
        foreach (var ch in Hermes)
            foreach (var e in p.Append(ch.ToString()))
            {
                if (e.Text != null) shown.Append(e.Text);
                Assert.DoesNotContain("<t", shown.ToString());
                Assert.DoesNotContain("get_weather", shown.ToString());
            }
        foreach (var e in p.Flush()) shown.Append(e.Text);
        Assert.Equal("Let me check.Done <3", shown.ToString());
    }

    [Fact]
    public void SeveralCallsWithTextAround()
    {
        const string msg = "A <tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call> B\n<tool_call>{\"name\":\"b\",\"arguments\":{\"x\":[1,2],\"y\":null}}</tool_call><tool_call>{\"name\":\"c\"}</tool_call> C";
        var (text, calls, _) = Run(ToolCallFormat.Hermes, msg);
        Assert.Equal("A  B\n C", text);
        Assert.Equal(["a", "b", "c"], calls.Select(c => c.Name));
        Assert.Equal(["call_0", "call_1", "call_2"], calls.Select(c => c.CallId));
        Assert.Empty(calls[0].Arguments!);
        Assert.Equal("[1,2]", Arg(calls[1], "x"));
        Assert.Null(calls[1].Arguments!["y"]);
        Assert.Empty(calls[2].Arguments!);
    }

    [Fact]
    public void DefaultCallIdsAreUnique()
    {
        var p = new ToolCallStreamParser(ToolCallFormat.Hermes);
        var ids = new HashSet<string>();
        for (var i = 0; i < 200; i++)
            foreach (var e in p.Append("<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>"))
            {
                Assert.StartsWith("call_", e.FunctionCall!.CallId);
                Assert.True(ids.Add(e.FunctionCall.CallId));
            }
        Assert.Equal(200, ids.Count);
    }

    [Theory]
    [InlineData("a < b and <tool or <tool_cal but no tag <")]
    [InlineData("<")]
    [InlineData("x <tool_call")]
    [InlineData("</tool_call> stray close")]
    [InlineData("<tool_call_me>maybe</tool_call_me>")]
    public void TextWithAngleBracketsIsKeptIntact(string msg)
    {
        for (var i = 0; i <= msg.Length; i++)
        {
            var (text, calls, _) = Run(ToolCallFormat.Hermes, msg[..i], msg[i..]);
            Assert.Equal(msg, text);
            Assert.Empty(calls);
        }
    }

    [Fact]
    public void PartialTagPrefixIsHeldBackUntilDecided()
    {
        var p = new ToolCallStreamParser(ToolCallFormat.Hermes, Ids());
        Assert.Equal("hi ", Assert.Single(p.Append("hi <tool_")).Text);
        Assert.Equal("<tool_x", Assert.Single(p.Append("x")).Text);
        Assert.Empty(p.Append("<"));
        Assert.Equal("<", Assert.Single(p.Flush()).Text);
    }

    [Fact]
    public void MalformedJsonWithNameBecomesCallWithException()
    {
        var (text, calls, _) = Run(ToolCallFormat.Hermes, "x<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par</tool_call>y");
        Assert.Equal("xy", text);
        var call = Assert.Single(calls);
        Assert.Equal("get_weather", call.Name);
        Assert.NotNull(call.Exception);
        Assert.Null(call.Arguments);
    }

    [Fact]
    public void ArgumentsThatAreNotAnObjectBecomeCallWithException()
    {
        var (_, calls, _) = Run(ToolCallFormat.Hermes, "<tool_call>{\"name\":\"f\",\"arguments\":42}</tool_call>");
        Assert.NotNull(Assert.Single(calls).Exception);
    }

    [Fact]
    public void ArgumentsAsJsonStringAreDecoded()
    {
        var (_, calls, _) = Run(ToolCallFormat.Hermes, "<tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"q\\\":\\\"v\\\"}\"}</tool_call>");
        Assert.Equal("v", Arg(Assert.Single(calls), "q"));
    }

    [Fact]
    public void GarbageInsideTagBecomesACallWithAnException()
    {
        const string msg = "pre <tool_call>not json at all</tool_call> post";
        var (text, calls, _) = Run(ToolCallFormat.Hermes, msg);
        Assert.Equal("pre  post", text);
        var call = Assert.Single(calls);
        Assert.Equal("", call.Name);
        Assert.IsType<InvalidOperationException>(call.Exception);
        Assert.Contains("not json at all", call.Exception!.Message);
    }

    [Fact]
    public void UnterminatedTagAtFlush()
    {
        var (text, calls, _) = Run(ToolCallFormat.Hermes, "a<tool_call>{\"name\":\"f\",\"arguments\":{\"k\":1}}");
        Assert.Equal("a", text);
        Assert.Equal("f", Assert.Single(calls).Name);
        var (text2, calls2, _) = Run(ToolCallFormat.Hermes, "a<tool_call>{\"name\":\"f\",\"argu");
        Assert.Equal("a", text2);
        var broken = Assert.Single(calls2);
        Assert.Equal("f", broken.Name);
        Assert.NotNull(broken.Exception);
    }

    [Fact]
    public void ParserIsReusableAfterFlush()
    {
        var p = new ToolCallStreamParser(ToolCallFormat.Hermes, Ids());
        p.Append("a<tool_call>{\"name\":");
        Assert.NotNull(Assert.Single(p.Flush()).FunctionCall!.Exception);
        var events = p.Append("b<tool_call>{\"name\":\"g\"}</tool_call>").Concat(p.Flush()).ToList();
        Assert.Equal("b", events[0].Text);
        Assert.Equal("g", events[1].FunctionCall!.Name);
    }

    [Theory]
    [InlineData(ToolCallFormat.Hermes, typeof(HermesToolCallParser))]
    [InlineData(ToolCallFormat.LlamaJson, typeof(LlamaJsonToolCallParser))]
    [InlineData(ToolCallFormat.Auto, typeof(ToolCallStreamParser))]
    public void EachFormatHasItsOwnParser(ToolCallFormat format, Type expected)
    {
        var parser = ToolCallParsers.Create(format, Ids());
        Assert.IsType(expected, parser);
        var events = parser.Append(format == ToolCallFormat.LlamaJson ? Llama : Hermes).Concat(parser.Flush()).ToList();
        Assert.Single(events, e => e.IsFunctionCall);
    }

    private const string Llama = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";

    [Fact]
    public void LlamaJsonSplitAtEveryPosition()
    {
        foreach (var msg in new[] { Llama, "  " + Llama + "\n", "<|python_tag|>" + Llama })
        {
            for (var i = 0; i <= msg.Length; i++)
            {
                var (text, calls, _) = Run(ToolCallFormat.LlamaJson, msg[..i], msg[i..]);
                Assert.Equal("", text.Trim());
                var call = Assert.Single(calls);
                Assert.Equal("get_weather", call.Name);
                Assert.Equal("Paris", Arg(call, "city"));
            }
        }
    }

    [Fact]
    public void LlamaSeveralCalls()
    {
        var (text, calls, _) = Run(ToolCallFormat.LlamaJson, Llama + "; " + Llama.Replace("Paris", "Rome"));
        Assert.Equal("", text);
        Assert.Equal(["Paris", "Rome"], calls.Select(c => Arg(c, "city")));
    }

    [Theory]
    [InlineData("The answer is {\"name\": \"x\", \"parameters\": {}}")] // not at the start
    [InlineData("{\"name\": \"John\", \"age\": 3}")]                    // JSON answer, not a call
    [InlineData("{ not json")]
    [InlineData("{\"name\": \"f\", \"parameters\": {")]                 // incomplete at the end
    [InlineData("Plain text with } and { braces")]
    [InlineData("")]
    public void LlamaNonCallsAreText(string msg)
    {
        for (var i = 0; i <= msg.Length; i++)
        {
            var (text, calls, _) = Run(ToolCallFormat.LlamaJson, msg[..i], msg[i..]);
            Assert.Equal(msg, text);
            Assert.Empty(calls);
        }
    }

    [Fact]
    public void LlamaNonObjectIsReleasedEarly()
    {
        var p = new ToolCallStreamParser(ToolCallFormat.LlamaJson, Ids());
        Assert.Empty(p.Append("{"));
        Assert.Equal("{ x", Assert.Single(p.Append(" x")).Text);
        Assert.Equal(" more", Assert.Single(p.Append(" more")).Text);
    }

    [Fact]
    public void LlamaJsonTextAfterCallIsText()
    {
        var (text, calls, _) = Run(ToolCallFormat.LlamaJson, Llama, " and then some words");
        Assert.Single(calls);
        Assert.Equal("and then some words", text);
    }

    [Fact]
    public void AutoHandlesBoth()
    {
        Assert.Single(Run(ToolCallFormat.Auto, Llama).Calls);
        var (text, calls, _) = Run(ToolCallFormat.Auto, Hermes);
        Assert.Equal("Let me check.Done <3", text);
        Assert.Single(calls);
    }

    [Fact]
    public void NoneFormatIsPassThrough()
    {
        var (text, calls, _) = Run(ToolCallFormat.None, Hermes);
        Assert.Equal(Hermes, text);
        Assert.Empty(calls);
    }

    [Fact]
    public void ParseAllCoalescesText()
    {
        var events = ToolCallStreamParser.ParseAll("a<b " + Hermes, ToolCallFormat.Hermes);
        Assert.Equal("a<b Let me check.", events[0].Text);
        Assert.True(events[1].IsFunctionCall);
    }

    [Theory]
    [InlineData("{% for tool in tools %}<tool_call>\n{{ tool }}</tool_call>{% endfor %}", ToolCallFormat.Hermes)]
    [InlineData("{{- '<|python_tag|>' }} {{ '\"parameters\": ' }}", ToolCallFormat.LlamaJson)]
    [InlineData("{{ message.content }}", ToolCallFormat.None)]
    [InlineData(null, ToolCallFormat.None)]
    public void DetectsFormatFromTemplate(string? template, ToolCallFormat expected)
        => Assert.Equal(expected, ToolCallStreamParser.DetectFormat(template));
}
