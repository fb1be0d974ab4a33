namespace LayerSkip.Extensions.AI.Tools;

/// <summary>
/// Splits a streamed model message into text to show and complete tool calls, for any <see cref="ToolCallFormat"/>:
/// it picks the parser of the format (<see cref="HermesToolCallParser"/>, <see cref="LlamaJsonToolCallParser"/>),
/// and for <see cref="ToolCallFormat.Auto"/> runs the Llama parser first and the Hermes parser over its text.
/// </summary>
/// <remarks>
/// <para>Feed chunks with <see cref="Append"/> and call <see cref="Flush"/> at the end of the message; both return
/// events in order (eagerly, so the returned list need not be enumerated for the state to advance). After
/// <see cref="Flush"/> the parser is ready for the next message. No part of the tool-call syntax is ever shown as
/// text: a call that cannot be read becomes a <see cref="Microsoft.Extensions.AI.FunctionCallContent"/> with
/// <see cref="Microsoft.Extensions.AI.FunctionCallContent.Exception"/> set, so <c>FunctionInvokingChatClient</c>
/// reports the error back to the model instead of invoking a tool.</para>
/// <para>Calls: <c>FunctionCallContent.CallId</c> is <c>"call_"</c> + 16 random hex
/// digits (or from the factory given); arguments map names to <see cref="System.Text.Json.JsonElement"/> values.
/// Not thread-safe.</para>
/// </remarks>
public sealed class ToolCallStreamParser : IToolCallParser
{
    private readonly IToolCallParser? _first;
    private readonly IToolCallParser? _second;

    /// <param name="format">The tool-call syntax to recognise.</param>
    /// <param name="callIdFactory">Produces call ids; default <c>"call_" + 16 hex digits</c>.</param>
    public ToolCallStreamParser(ToolCallFormat format, Func<string>? callIdFactory = null)
    {
        Format = format;
        (_first, _second) = format switch
        {
            ToolCallFormat.Hermes => (new HermesToolCallParser(callIdFactory), null),
            ToolCallFormat.LlamaJson => (new LlamaJsonToolCallParser(callIdFactory), null),
            ToolCallFormat.Auto => ((IToolCallParser?)new LlamaJsonToolCallParser(callIdFactory), (IToolCallParser?)new HermesToolCallParser(callIdFactory)),
            _ => (null, null),
        };
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
        if (chatTemplate.Contains(HermesToolCallParser.OpenTag, StringComparison.Ordinal)) return ToolCallFormat.Hermes;
        if (chatTemplate.Contains(LlamaJsonToolCallParser.PythonTag, StringComparison.Ordinal) || chatTemplate.Contains("ipython", StringComparison.Ordinal)
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
        return ToolCallJson.Coalesce(events);
    }

    public IReadOnlyList<ToolCallParseEvent> Append(string? chunk)
    {
        if (string.IsNullOrEmpty(chunk)) return [];
        if (_first is null) return [ToolCallParseEvent.ForText(chunk)];
        return ThroughSecond(_first.Append(chunk), flush: false);
    }

    public IReadOnlyList<ToolCallParseEvent> Flush() => _first is null ? [] : ThroughSecond(_first.Flush(), flush: true);

    /// <summary>Discards any buffered state and starts a new message.</summary>
    public void Reset()
    {
        _first?.Flush();
        _second?.Flush();
    }

    private IReadOnlyList<ToolCallParseEvent> ThroughSecond(IReadOnlyList<ToolCallParseEvent> events, bool flush)
    {
        if (_second is null) return events;
        var result = new List<ToolCallParseEvent>();
        foreach (var e in events)
            result.AddRange(e.Text is { } text ? _second.Append(text) : [e]);
        if (flush) result.AddRange(_second.Flush());
        return ToolCallJson.Coalesce(result);
    }
}
