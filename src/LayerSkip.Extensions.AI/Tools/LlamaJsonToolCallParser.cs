using System.Text;

namespace LayerSkip.Extensions.AI.Tools;

/// <summary>
/// Llama 3.x syntax: the whole message is a JSON object <c>{"name": ..., "parameters": {...}}</c> (or
/// <c>"arguments"</c>), optionally after <c>&lt;|python_tag|&gt;</c>; several may follow each other separated by
/// whitespace or <c>;</c>. A message starting with <c>{</c> is held until the object is complete, or released as
/// text as soon as it cannot be a call object. JSON that is not a call (e.g. a JSON answer) is text.
/// </summary>
public sealed class LlamaJsonToolCallParser : IToolCallParser
{
    internal const string PythonTag = "<|python_tag|>";

    private enum Mode { Start, Text, InJson, AfterJson }

    private readonly Func<string> _callIds;
    private readonly StringBuilder _buf = new();
    private Mode _mode;
    private bool _sawPythonTag;
    // incremental JSON object scan (InJson)
    private int _scanPos, _scanDepth;
    private bool _scanInString, _scanEscape;

    /// <param name="callIdFactory">Produces call ids; default <see cref="ToolCallStreamParser.NewCallId"/>.</param>
    public LlamaJsonToolCallParser(Func<string>? callIdFactory = null)
    {
        _callIds = callIdFactory ?? ToolCallStreamParser.NewCallId;
        Reset();
    }

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
        switch (_mode)
        {
            case Mode.InJson:
                ToolCallJson.EmitText(events, (_sawPythonTag ? PythonTag : "") + rest);
                break;
            case Mode.AfterJson:
                ToolCallJson.EmitText(events, rest.TrimStart(' ', '\t', '\r', '\n', ';'));
                break;
            default:
                ToolCallJson.EmitText(events, rest);
                break;
        }
        Reset();
        return ToolCallJson.Coalesce(events);
    }

    /// <summary>Discards any buffered state and starts a new message.</summary>
    public void Reset()
    {
        _buf.Clear();
        _mode = Mode.Start;
        _sawPythonTag = false;
        ResetScan();
    }

    private void ResetScan()
    {
        _scanPos = 0;
        _scanDepth = 0;
        _scanInString = false;
        _scanEscape = false;
    }

    private void Process(List<ToolCallParseEvent> events, bool final)
    {
        while (true)
        {
            switch (_mode)
            {
                case Mode.Start:
                    {
                        var i = 0;
                        while (i < _buf.Length && char.IsWhiteSpace(_buf[i])) i++;
                        if (i == _buf.Length) return; // only whitespace so far: undecided
                        var rest = _buf.ToString(i, _buf.Length - i);
                        if (rest.StartsWith(PythonTag, StringComparison.Ordinal))
                        {
                            _buf.Remove(0, i + PythonTag.Length);
                            _sawPythonTag = true;
                            _mode = Mode.AfterJson; // then expects '{'
                            continue;
                        }
                        if (!final && PythonTag.StartsWith(rest, StringComparison.Ordinal)) return;
                        if (rest[0] == '{')
                        {
                            _mode = Mode.InJson;
                            ResetScan();
                            _scanPos = i;
                            continue;
                        }
                        _mode = Mode.Text;
                        continue;
                    }

                case Mode.Text:
                    ToolCallJson.EmitText(events, _buf.ToString());
                    _buf.Clear();
                    return;

                case Mode.InJson:
                    {
                        var end = ScanJsonObject(out var notAnObject);
                        if (notAnObject)
                        {
                            if (_sawPythonTag) _buf.Insert(0, PythonTag);
                            _sawPythonTag = false;
                            _mode = Mode.Text;
                            continue;
                        }
                        if (end < 0) return; // incomplete
                        var json = _buf.ToString(0, end + 1);
                        if (ToolCallJson.TryParseCalls(json, requireArguments: true, _callIds, out var calls))
                        {
                            events.AddRange(calls.Select(ToolCallParseEvent.ForCall));
                            _buf.Remove(0, end + 1);
                            _mode = Mode.AfterJson;
                        }
                        else
                        {
                            ToolCallJson.EmitText(events, (_sawPythonTag ? PythonTag : "") + json);
                            _buf.Remove(0, end + 1);
                            _mode = Mode.Text;
                        }
                        _sawPythonTag = false;
                        continue;
                    }

                case Mode.AfterJson:
                    {
                        var i = 0;
                        while (i < _buf.Length && (char.IsWhiteSpace(_buf[i]) || _buf[i] == ';')) i++;
                        if (i == _buf.Length) return;
                        if (_buf[i] == '{')
                        {
                            _buf.Remove(0, i);
                            _mode = Mode.InJson;
                            ResetScan();
                            continue;
                        }
                        _buf.Remove(0, i); // separators between/after calls are not shown
                        if (_sawPythonTag) { _buf.Insert(0, PythonTag); _sawPythonTag = false; }
                        _mode = Mode.Text;
                        continue;
                    }
            }
        }
    }

    /// <summary>Index of the '}' closing the object that starts at the first '{' (from _scanPos), or -1 if not yet
    /// complete. Sets <paramref name="notAnObject"/> when the text cannot be a call object.</summary>
    private int ScanJsonObject(out bool notAnObject)
    {
        notAnObject = false;
        for (; _scanPos < _buf.Length; _scanPos++)
        {
            var c = _buf[_scanPos];
            if (_scanInString)
            {
                if (_scanEscape) _scanEscape = false;
                else if (c == '\\') _scanEscape = true;
                else if (c == '"') _scanInString = false;
                continue;
            }
            if (_scanDepth == 1 && !char.IsWhiteSpace(c) && PreviousSignificantIsOpeningBrace(_scanPos) && c != '"' && c != '}')
            {
                notAnObject = true;
                return -1;
            }
            switch (c)
            {
                case '"': _scanInString = true; break;
                case '{' or '[': _scanDepth++; break;
                case '}' or ']':
                    if (--_scanDepth == 0) return _scanPos;
                    break;
            }
        }
        return -1;
    }

    private bool PreviousSignificantIsOpeningBrace(int pos)
    {
        for (var j = pos - 1; j >= 0; j--)
        {
            if (char.IsWhiteSpace(_buf[j])) continue;
            return _buf[j] == '{'; // at depth 1 outside strings this can only be the outer object's brace
        }
        return false;
    }

}
