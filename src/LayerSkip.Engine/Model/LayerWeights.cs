using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// One decoder layer's weights, with q/k/v fused into one projection and gate/up into another,
/// so a decode step issues two large matmuls instead of five small ones.
/// </summary>
public sealed class LayerWeights : IDisposable
{
    private Tensor? _qkv, _output, _gateUp, _down;
    private string? _freedBy;

    public required Tensor InputNorm { get; init; }
    /// <exception cref="InvalidOperationException">A quantized model freed it (likewise <see cref="Output"/>, <see cref="GateUp"/>, <see cref="Down"/>).</exception>
    public required Tensor Qkv { get => Held(_qkv, "q/k/v"); init => _qkv = value; }
    public Tensor? QkvBias { get; init; }
    public Tensor? QNorm { get; init; }
    public Tensor? KNorm { get; init; }
    public required Tensor Output { get => Held(_output, "output"); init => _output = value; }
    public required Tensor PostAttentionNorm { get; init; }
    public required Tensor GateUp { get => Held(_gateUp, "gate/up"); init => _gateUp = value; }
    public required Tensor Down { get => Held(_down, "down"); init => _down = value; }

    /// <summary>The projection of this kind [out, in].</summary>
    internal Tensor Projection(ProjectionKind kind) => kind switch
    {
        ProjectionKind.Qkv => Qkv,
        ProjectionKind.Output => Output,
        ProjectionKind.GateUp => GateUp,
        ProjectionKind.Down => Down,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "A layer has no LM head."),
    };

    /// <summary>The RMSNorm weight that scales the projection's input (q/k/v and gate/up), or null.</summary>
    internal Tensor? NormBefore(ProjectionKind kind) => kind switch
    {
        ProjectionKind.Qkv => InputNorm,
        ProjectionKind.GateUp => PostAttentionNorm,
        _ => null,
    };

    /// <summary>Whether the float projection matrices are still held (a quantized model frees them).</summary>
    public bool HoldsProjections => _freedBy is null;

    /// <summary>The tensors still held: all of them, or the norms and biases once the projections were freed.</summary>
    public IEnumerable<Tensor> All() =>
        new[] { InputNorm, _qkv, QkvBias, QNorm, KNorm, _output, PostAttentionNorm, _gateUp, _down }.OfType<Tensor>();

    public long Bytes => All().Sum(t => t.NumberOfElements * t.ElementSize);

    /// <summary>Disposes the four projection matrices; reading them afterwards throws, naming <paramref name="reason"/>.</summary>
    internal void FreeProjections(string reason)
    {
        foreach (var t in new[] { _qkv, _output, _gateUp, _down }) t?.Dispose();
        _qkv = _output = _gateUp = _down = null;
        _freedBy = reason;
    }

    private Tensor Held(Tensor? t, string name) => t ?? throw new InvalidOperationException(
        $"The layer's {name} float weight was freed: {_freedBy}. Read or change float weights on a model loaded without " +
        "quantization (adapt, train or export first, then quantize at load).");

    public void Dispose()
    {
        foreach (var t in All()) t.Dispose();
    }
}
