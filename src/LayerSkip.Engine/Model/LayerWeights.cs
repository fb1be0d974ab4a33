using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// One decoder layer's weights, with q/k/v fused into one projection and gate/up into another,
/// so a decode step issues two large matmuls instead of five small ones.
/// </summary>
public sealed class LayerWeights : IDisposable
{
    public required Tensor InputNorm { get; init; }
    public required Tensor Qkv { get; init; }
    public Tensor? QkvBias { get; init; }
    public Tensor? QNorm { get; init; }
    public Tensor? KNorm { get; init; }
    public required Tensor Output { get; init; }
    public required Tensor PostAttentionNorm { get; init; }
    public required Tensor GateUp { get; init; }
    public required Tensor Down { get; init; }

    public IEnumerable<Tensor> All() =>
        new[] { InputNorm, Qkv, QkvBias, QNorm, KNorm, Output, PostAttentionNorm, GateUp, Down }.OfType<Tensor>();

    public long Bytes => All().Sum(t => t.NumberOfElements * t.ElementSize);

    public void Dispose()
    {
        foreach (var t in All()) t.Dispose();
    }
}
