using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tools;

/// <summary>How a model writes tool calls in its output.</summary>
public enum ToolCallFormat
{
    /// <summary>No tool-call syntax: everything is text.</summary>
    None,

    /// <summary>Qwen / Hermes: <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>, anywhere in the
    /// message, possibly several.</summary>
    Hermes,

    /// <summary>Llama 3.x: the whole message is a JSON object <c>{"name": ..., "parameters": {...}}</c> (or
    /// <c>"arguments"</c>), optionally after <c>&lt;|python_tag|&gt;</c>; several may follow each other separated by
    /// whitespace or <c>;</c>.</summary>
    LlamaJson,

    /// <summary>Both: Hermes tags anywhere, and a Llama JSON call if the message starts with one.</summary>
    Auto,
}

/// <summary>One output of <see cref="ToolCallStreamParser"/>: either text to show or a complete tool call.</summary>
public sealed class ToolCallParseEvent
{
    private ToolCallParseEvent(string? text, FunctionCallContent? call)
    {
        Text = text;
        FunctionCall = call;
    }

    /// <summary>Text to show (null for a tool call event).</summary>
    public string? Text { get; }

    /// <summary>The complete tool call (null for a text event).</summary>
    public FunctionCallContent? FunctionCall { get; }

    /// <summary>True when this event carries a <see cref="FunctionCall"/>.</summary>
    public bool IsFunctionCall => FunctionCall != null;

    /// <summary>A text event.</summary>
    public static ToolCallParseEvent ForText(string text) => new(text ?? throw new ArgumentNullException(nameof(text)), null);

    /// <summary>A tool-call event.</summary>
    public static ToolCallParseEvent ForCall(FunctionCallContent call) => new(null, call ?? throw new ArgumentNullException(nameof(call)));

    /// <inheritdoc />
    public override string ToString() => FunctionCall is { } c ? $"call {c.Name}({c.CallId})" : $"text \"{Text}\"";
}
