using LayerSkip.Engine.Generation;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// What shape the response must take: free text, text with tool calls, a forced tool call, or JSON
/// (optionally matching a schema), and the decoding aids that enforce it.
/// </summary>
internal sealed class OutputStructure
{
    private OutputStructure() { }

    /// <summary>Text appended after the generation prompt (opens a forced tool call).</summary>
    public string AssistantPrefix { get; private init; } = "";

    public static OutputStructure From(ChatOptions? options, ResponseDecoder.Resources resources) => new();

    public ILogitsProcessor? CreateLogitsProcessor() => null;

    public IToolCallExtractor? CreateToolCallExtractor() => null;

    public bool IsCompleteAfterForcedCall(int calls) => false;
}
