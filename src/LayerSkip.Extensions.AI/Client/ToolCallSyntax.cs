namespace LayerSkip.Extensions.AI;

/// <summary>How a model writes tool calls.</summary>
internal enum ToolCallSyntax
{
    /// <summary>Qwen/Hermes: &lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;.</summary>
    Hermes,
    /// <summary>Llama 3.x: a bare JSON object {"name": ..., "parameters": {...}} (optionally after &lt;|python_tag|&gt;).</summary>
    LlamaJson,
}

internal static class ToolCallSyntaxDetector
{
    /// <summary>Reads the format off the chat template; templates without tool support get Hermes tags.</summary>
    public static ToolCallSyntax FromTemplate(string? template) =>
        template is not null && !template.Contains("<tool_call>", StringComparison.Ordinal) &&
        (template.Contains("<|python_tag|>", StringComparison.Ordinal) || template.Contains("ipython", StringComparison.Ordinal))
            ? ToolCallSyntax.LlamaJson
            : ToolCallSyntax.Hermes;
}
