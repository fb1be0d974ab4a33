using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tools;

/// <summary>
/// Splits a streamed model message into text to show and complete tool calls
/// (<see cref="FunctionCallContent"/>), without ever showing any part of the tool-call syntax.
/// </summary>
/// <remarks>
/// <para>Feed chunks with <see cref="Append"/> and call <see cref="Flush"/> at the end of the message; both return
/// events in order (eagerly, so the returned list need not be enumerated for the state to advance). After
/// <see cref="Flush"/> the parser is ready for the next message.</para>
/// <para>Text that might be the start of a tag (e.g. a trailing <c>"&lt;tool"</c>) is held back until decided, like a
/// stop sequence; text that merely contains <c>&lt;</c> is emitted intact once it cannot be a tag. Inside a tag nothing
/// is emitted until the closing tag. In Llama format, a message starting with <c>{</c> is held until the JSON object
/// is complete (or as soon as it cannot be a call object: the first character after <c>{</c> is not <c>"</c>).</para>
/// <para>Calls: <c>FunctionCallContent.CallId</c> is <c>"call_"</c> + 16 random hex digits (or from the
/// factory given); <see cref="FunctionCallContent.Arguments"/> maps names to <see cref="JsonElement"/> values (null
/// for JSON null), read from <c>"arguments"</c> or <c>"parameters"</c>, which may also be a JSON-encoded string;
/// the OpenAI shape <c>{"type":"function","function":{...}}</c> and a JSON array of calls are accepted too.</para>
/// <para><b>Malformed content</b> inside <c>&lt;tool_call&gt;…&lt;/tool_call&gt;</c>: if a function name can still be
/// recognised (valid JSON with bad arguments, or invalid JSON containing <c>"name": "..."</c>), the event is a
/// <see cref="FunctionCallContent"/> with <see cref="FunctionCallContent.Exception"/> set and no arguments, so
/// <c>FunctionInvokingChatClient</c> reports the error back to the model instead of invoking the tool. Otherwise the
/// whole raw tag text is surfaced as text, so nothing is lost. An unterminated tag at <see cref="Flush"/> becomes a
/// call if its content is a valid call, else raw text. In Llama format, JSON that is not a call object (no
/// <c>"name"</c> plus <c>"parameters"</c>/<c>"arguments"</c>) is plain text: e.g. a JSON answer.</para>
/// <para>Not thread-safe.</para>
/// </remarks>
public sealed class ToolCallStreamParser
{
    private const string OpenTag = "<tool_call>";
    private const string CloseTag = "</tool_call>";
    private const string PythonTag = "<|python_tag|>";

    private static readonly Regex NameRegex = new("\"name\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"", RegexOptions.CultureInvariant);

    private enum Mode { Start, Text, InTag, InJson, AfterJson }

    private readonly Func<string> _callIdFactory;
    private readonly bool _hermes;
    private readonly bool _llama;
    private readonly StringBuilder _buf = new();
    private Mode _mode;
    private int _closeSearchFrom;
    private bool _sawPythonTag;
    // incremental JSON object scan (InJson)
    private int _scanPos, _scanDepth;
    private bool _scanInString, _scanEscape;

    /// <param name="format">The tool-call syntax to recognise.</param>
    /// <param name="callIdFactory">Produces call ids; default <c>"call_" + 16 hex digits</c>.</param>
    public ToolCallStreamParser(ToolCallFormat format, Func<string>? callIdFactory = null)
    {
        Format = format;
        _hermes = format is ToolCallFormat.Hermes or ToolCallFormat.Auto;
        _llama = format is ToolCallFormat.LlamaJson or ToolCallFormat.Auto;
        _callIdFactory = callIdFactory ?? NewCallId;
        Reset();
    }

    /// <summary>The format this parser recognises.</summary>
    public ToolCallFormat Format { get; }

    /// <summary>A fresh call id: <c>"call_"</c> + 16 random hex digits.</summary>
    public static string NewCallId() => "call_" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>Guesses the tool-call format from a chat template (Jinja text) or model name: Hermes if it mentions
    /// <c>&lt;tool_call&gt;</c>, Llama JSON if it mentions <c>&lt;|python_tag|&gt;</c>, <c>ipython</c> or
    /// <c>"parameters"</c>, otherwise <see cref="ToolCallFormat.None"/>.</summary>
    public static ToolCallFormat DetectFormat(string? chatTemplate)
    {
        if (string.IsNullOrEmpty(chatTemplate)) return ToolCallFormat.None;
        if (chatTemplate.Contains(OpenTag, StringComparison.Ordinal)) return ToolCallFormat.Hermes;
        if (chatTemplate.Contains(PythonTag, StringComparison.Ordinal) || chatTemplate.Contains("ipython", StringComparison.Ordinal)
            || chatTemplate.Contains("\"parameters\"", StringComparison.Ordinal) || chatTemplate.Contains("<|eom_id|>", StringComparison.Ordinal))
            return ToolCallFormat.LlamaJson;
        return ToolCallFormat.None;
    }

    /// <summary>Parses a whole (non-streamed) message.</summary>
    public static IReadOnlyList<ToolCallParseEvent> ParseAll(string text, ToolCallFormat format, Func<string>? callIdFactory = null)
    {
        var p = new ToolCallStreamParser(format, callIdFactory);
        var events = new List<ToolCallParseEvent>(p.Append(text));
        events.AddRange(p.Flush());
        return Coalesce(events);
    }

    /// <summary>Feeds the next chunk; returns the text and calls now decided.</summary>
    public IReadOnlyList<ToolCallParseEvent> Append(string? chunk)
    {
        var events = new List<ToolCallParseEvent>();
        if (string.IsNullOrEmpty(chunk)) return events;
        _buf.Append(chunk);
        Process(events, final: false);
        return Coalesce(events);
    }

    /// <summary>Ends the message: releases held-back text and any unterminated call; resets for the next message.</summary>
    public IReadOnlyList<ToolCallParseEvent> Flush()
    {
        var events = new List<ToolCallParseEvent>();
        Process(events, final: true);
        var rest = _buf.ToString();
        switch (_mode)
        {
            case Mode.Start:
            case Mode.Text:
                EmitText(events, rest);
                break;
            case Mode.InTag:
                if (!TryParseCalls(rest, requireArguments: false, out var calls)) EmitText(events, OpenTag + rest);
                else foreach (var c in calls) events.Add(ToolCallParseEvent.ForCall(c));
                break;
            case Mode.InJson:
                EmitText(events, (_sawPythonTag ? PythonTag : "") + rest);
                break;
            case Mode.AfterJson:
                var trimmed = rest.TrimStart(' ', '\t', '\r', '\n', ';');
                EmitText(events, trimmed);
                break;
        }
        Reset();
        return Coalesce(events);
    }

    /// <summary>Discards any buffered state and starts a new message.</summary>
    public void Reset()
    {
        _buf.Clear();
        _mode = _llama ? Mode.Start : Mode.Text;
        _closeSearchFrom = 0;
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
                    {
                        if (!_hermes)
                        {
                            EmitText(events, _buf.ToString());
                            _buf.Clear();
                            return;
                        }
                        var text = _buf.ToString();
                        var idx = text.IndexOf(OpenTag, StringComparison.Ordinal);
                        if (idx >= 0)
                        {
                            EmitText(events, text[..idx]);
                            _buf.Remove(0, idx + OpenTag.Length);
                            _mode = Mode.InTag;
                            _closeSearchFrom = 0;
                            continue;
                        }
                        var hold = final ? 0 : PartialSuffix(text, OpenTag);
                        EmitText(events, text[..^hold]);
                        _buf.Remove(0, text.Length - hold);
                        return;
                    }

                case Mode.InTag:
                    {
                        var text = _buf.ToString();
                        var idx = text.IndexOf(CloseTag, _closeSearchFrom, StringComparison.Ordinal);
                        if (idx < 0)
                        {
                            _closeSearchFrom = Math.Max(0, text.Length - CloseTag.Length + 1);
                            return;
                        }
                        var content = text[..idx];
                        _buf.Remove(0, idx + CloseTag.Length);
                        EmitTagContent(events, content);
                        _mode = Mode.Text;
                        continue;
                    }

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
                        if (TryParseCalls(json, requireArguments: true, out var calls))
                        {
                            foreach (var c in calls) events.Add(ToolCallParseEvent.ForCall(c));
                            _buf.Remove(0, end + 1);
                            _mode = Mode.AfterJson;
                        }
                        else
                        {
                            EmitText(events, (_sawPythonTag ? PythonTag : "") + json);
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

    private void EmitTagContent(List<ToolCallParseEvent> events, string content)
    {
        if (TryParseCalls(content, requireArguments: false, out var calls))
        {
            foreach (var c in calls) events.Add(ToolCallParseEvent.ForCall(c));
            return;
        }
        var m = NameRegex.Match(content);
        if (m.Success)
        {
            string name;
            try { name = JsonSerializer.Deserialize<string>("\"" + m.Groups[1].Value + "\"") ?? m.Groups[1].Value; }
            catch (JsonException) { name = m.Groups[1].Value; }
            events.Add(ToolCallParseEvent.ForCall(new FunctionCallContent(_callIdFactory(), name)
            {
                Exception = new InvalidOperationException($"The tool call for '{name}' could not be parsed as JSON: {content.Trim()}"),
            }));
            return;
        }
        EmitText(events, OpenTag + content + CloseTag);
    }

    private bool TryParseCalls(string json, bool requireArguments, out List<FunctionCallContent> calls)
    {
        calls = [];
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json.Trim()); }
        catch (JsonException) { return false; }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (!TryCreateCall(root, requireArguments, out var call)) return false;
                calls.Add(call);
                return true;
            }
            if (root.ValueKind == JsonValueKind.Array && root.GetArrayLength() > 0)
            {
                foreach (var item in root.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object || !TryCreateCall(item, requireArguments, out var call)) { calls.Clear(); return false; }
                    calls.Add(call);
                }
                return true;
            }
            return false;
        }
    }

    private bool TryCreateCall(JsonElement obj, bool requireArguments, out FunctionCallContent call)
    {
        call = null!;
        if (obj.TryGetProperty("function", out var fn) && fn.ValueKind == JsonValueKind.Object) obj = fn; // OpenAI shape
        if (!obj.TryGetProperty("name", out var nameEl) || nameEl.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(nameEl.GetString())) return false;
        var name = nameEl.GetString()!;
        var hasArgs = obj.TryGetProperty("arguments", out var args) || obj.TryGetProperty("parameters", out args);
        if (requireArguments && !hasArgs) return false;
        var id = _callIdFactory();
        try
        {
            call = new FunctionCallContent(id, name, ParseArguments(hasArgs ? args : default));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            call = new FunctionCallContent(id, name) { Exception = new InvalidOperationException($"The arguments of tool call '{name}' are not a JSON object: {e.Message}", e) };
        }
        return true;
    }

    private static Dictionary<string, object?> ParseArguments(JsonElement args)
    {
        switch (args.ValueKind)
        {
            case JsonValueKind.Undefined:
            case JsonValueKind.Null:
                return [];
            case JsonValueKind.Object:
                return JsonSerializer.Deserialize<Dictionary<string, object?>>(args) ?? [];
            case JsonValueKind.String:
                var s = args.GetString()!;
                if (string.IsNullOrWhiteSpace(s)) return [];
                using (var inner = JsonDocument.Parse(s))
                {
                    if (inner.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidOperationException("arguments string does not hold a JSON object");
                    return JsonSerializer.Deserialize<Dictionary<string, object?>>(inner.RootElement) ?? [];
                }
            default:
                throw new InvalidOperationException($"arguments is a JSON {args.ValueKind}");
        }
    }

    /// <summary>Length of the longest proper prefix of <paramref name="tag"/> that <paramref name="text"/> ends with.</summary>
    private static int PartialSuffix(string text, string tag)
    {
        for (var k = Math.Min(text.Length, tag.Length - 1); k > 0; k--)
            if (text.AsSpan(text.Length - k).SequenceEqual(tag.AsSpan(0, k))) return k;
        return 0;
    }

    private static void EmitText(List<ToolCallParseEvent> events, string text)
    {
        if (text.Length > 0) events.Add(ToolCallParseEvent.ForText(text));
    }

    private static List<ToolCallParseEvent> Coalesce(List<ToolCallParseEvent> events)
    {
        if (events.Count < 2) return events;
        var result = new List<ToolCallParseEvent>(events.Count);
        foreach (var e in events)
        {
            if (e.Text != null && result.Count > 0 && result[^1].Text is { } prev) result[^1] = ToolCallParseEvent.ForText(prev + e.Text);
            else result.Add(e);
        }
        return result;
    }
}
