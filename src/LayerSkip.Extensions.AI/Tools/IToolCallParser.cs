namespace LayerSkip.Extensions.AI.Tools;

/// <summary>
/// Splits a streamed model message into text to show and complete tool calls, for one tool-call syntax. Feed chunks
/// with <see cref="Append"/> and end the message with <see cref="Flush"/>; both return the events now decided, in order.
/// </summary>
public interface IToolCallParser
{
    /// <summary>Feeds the next chunk; returns the text and calls now decided.</summary>
    IReadOnlyList<ToolCallParseEvent> Append(string? chunk);

    /// <summary>Ends the message: releases held-back text and any unterminated call; resets for the next message.</summary>
    IReadOnlyList<ToolCallParseEvent> Flush();
}

/// <summary>Creates the parser for a <see cref="ToolCallFormat"/>.</summary>
public static class ToolCallParsers
{
    /// <param name="format">The syntax to recognise.</param>
    /// <param name="callIdFactory">Produces call ids; default <c>"call_" + 16 hex digits</c>.</param>
    public static IToolCallParser Create(ToolCallFormat format, Func<string>? callIdFactory = null) => format switch
    {
        ToolCallFormat.Hermes => new HermesToolCallParser(callIdFactory),
        ToolCallFormat.LlamaJson => new LlamaJsonToolCallParser(callIdFactory),
        _ => new ToolCallStreamParser(format, callIdFactory),
    };
}
