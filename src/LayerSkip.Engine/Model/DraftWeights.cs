using LayerSkip.Engine.Model.Kernels;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Lower-precision copies of a model's projections (every layer's four and the LM head) that only speculative drafts
/// read: the model keeps its own weights for prefill and verification, so the output stays the full model's. The
/// copies are extra memory (<see cref="Bytes"/>) in exchange for draft steps that stream fewer bytes.
/// </summary>
internal sealed class DraftWeights : IDisposable
{
    /// <summary>One layer's draft kernels, in the order of <see cref="LayerProjections"/>.</summary>
    public sealed record Layer(IMatVec Qkv, IMatVec Output, IMatVec GateUp, IMatVec Down)
    {
        public long Bytes => Qkv.Bytes + Output.Bytes + GateUp.Bytes + Down.Bytes;
        public IEnumerable<IMatVec> All => [Qkv, Output, GateUp, Down];
    }

    private readonly Layer[] _layers;

    public WeightQuantization Quantization { get; }
    public IMatVec LmHead { get; }

    /// <param name="layers">How many decoder layers the model has.</param>
    /// <param name="weight">A projection's float values (layer and kind; the layer is ignored for the LM head), a copy
    /// the caller owns: the float weight, or a quantized model's dequantized one.</param>
    /// <param name="inputNorm">The RMSNorm weight in front of that projection, if any (it weighs the int4 fit).</param>
    public DraftWeights(int layers, Func<int, ProjectionKind, TorchSharp.torch.Tensor> weight, Func<int, ProjectionKind, TorchSharp.torch.Tensor?> inputNorm,
        WeightQuantization quantization)
    {
        Quantization = quantization;
        var made = new List<IMatVec>();
        IMatVec Copy(int layer, ProjectionKind kind)
        {
            using var w = weight(layer, kind);
            var k = Projection.QuantizedCopy(w, quantization, inputNorm(layer, kind));
            made.Add(k);
            return k;
        }
        try
        {
            _layers = Enumerable.Range(0, layers)
                .Select(l => new Layer(Copy(l, ProjectionKind.Qkv), Copy(l, ProjectionKind.Output), Copy(l, ProjectionKind.GateUp), Copy(l, ProjectionKind.Down))).ToArray();
            LmHead = Copy(-1, ProjectionKind.LmHead);
        }
        catch
        {
            foreach (var k in made) k.Dispose();
            throw;
        }
    }

    public Layer this[int layer] => _layers[layer];

    /// <summary>The memory the copies take (they are also what a full-depth draft step streams).</summary>
    public long Bytes => _layers.Sum(l => l.Bytes) + LmHead.Bytes;

    /// <summary>Bytes one draft step streams when it runs only the layers <paramref name="runs"/> keeps.</summary>
    public long StreamedBytes(Func<int, bool> runs) =>
        Enumerable.Range(0, _layers.Length).Where(runs).Sum(l => _layers[l].Bytes) + LmHead.Bytes;

    public void Dispose()
    {
        foreach (var l in _layers)
            foreach (var k in l.All) k.Dispose();
        LmHead.Dispose();
    }
}
