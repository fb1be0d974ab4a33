using System.Text;

namespace LayerSkip.Extensions.AI.Tools;

/// <summary>
/// Qwen / Hermes syntax: <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>, anywhere in the
/// message, possibly several. Text that might be the start of the tag is held back until decided; inside a tag
/// nothing is shown. A tag whose content cannot be read, or that is left open at the end of the message, becomes a
/// call with <see cref="Microsoft.Extensions.AI.FunctionCallContent.Exception"/> set (unless its content is a valid call).
/// </summary>
public sealed class HermesToolCallParser : IToolCallParser
{
    internal const string OpenTag = "<tool_call>";
    internal const string CloseTag = "</tool_call>";

    private readonly Func<string> _callIds;
    private readonly StringBuilder _buf = new();
    private bool _inTag;
    private int _closeSearchFrom;

    /// <param name="callIdFactory">Produces call ids; default <see cref="ToolCallStreamParser.NewCallId"/>.</param>
    public HermesToolCallParser(Func<string>? callIdFactory = null) => _callIds = callIdFactory ?? ToolCallStreamParser.NewCallId;

    public IReadOnlyList<ToolCallParseEvent> Append(string? chunk)
    {
        var events = new List<ToolCallParseEvent>();
        if (string.IsNullOrEmpty(chunk)) return events;
        _buf.Append(chunk);
        Process(events, final: false);
        return ToolCallJson.Coalesce(events);
    }

    public IReadOnlyList<ToolCallParseEvent> Flush()
    {
        var events = new List<ToolCallParseEvent>();
        Process(events, final: true);
        var rest = _buf.ToString();
        if (!_inTag) ToolCallJson.EmitText(events, rest);
        else if (ToolCallJson.TryParseCalls(rest, requireArguments: false, _callIds, out var calls)) events.AddRange(calls.Select(ToolCallParseEvent.ForCall));
        else events.Add(ToolCallParseEvent.ForCall(ToolCallJson.FailedCall(rest, _callIds)));
        Reset();
        return ToolCallJson.Coalesce(events);
    }

    /// <summary>Discards any buffered state and starts a new message.</summary>
    public void Reset()
    {
        _buf.Clear();
        _inTag = false;
        _closeSearchFrom = 0;
    }

    private void Process(List<ToolCallParseEvent> events, bool final)
    {
        while (true)
        {
            var text = _buf.ToString();
            if (!_inTag)
            {
                var open = text.IndexOf(OpenTag, StringComparison.Ordinal);
                if (open >= 0)
                {
                    ToolCallJson.EmitText(events, text[..open]);
                    _buf.Remove(0, open + OpenTag.Length);
                    _inTag = true;
                    _closeSearchFrom = 0;
                    continue;
                }
                var hold = final ? 0 : ToolCallJson.PartialSuffix(text, OpenTag);
                ToolCallJson.EmitText(events, text[..^hold]);
                _buf.Remove(0, text.Length - hold);
                return;
            }
            var close = text.IndexOf(CloseTag, _closeSearchFrom, StringComparison.Ordinal);
            if (close < 0)
            {
                _closeSearchFrom = Math.Max(0, text.Length - CloseTag.Length + 1);
                return;
            }
            var content = text[..close];
            _buf.Remove(0, close + CloseTag.Length);
            if (ToolCallJson.TryParseCalls(content, requireArguments: false, _callIds, out var calls)) events.AddRange(calls.Select(ToolCallParseEvent.ForCall));
            else events.Add(ToolCallParseEvent.ForCall(ToolCallJson.FailedCall(content, _callIds)));
            _inTag = false;
        }
    }
}
