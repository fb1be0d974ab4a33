using LayerSkip.Extensions.AI;
using Microsoft.SemanticKernel;

namespace LayerSkip.SemanticKernel;

/// <summary>Typed access to the layer-skip values of a Semantic Kernel reply.</summary>
public static class LayerSkipChatMessageContentExtensions
{
    /// <summary>What the reply ran (plan, kept layers, mode), from its <see cref="KernelContent.Metadata"/>; null when it holds none.</summary>
    public static LayerSkipInfo? GetLayerSkipInfo(this ChatMessageContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        return LayerSkipInfo.Read(content.Metadata);
    }
}
