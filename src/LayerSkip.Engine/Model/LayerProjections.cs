namespace LayerSkip.Engine.Model;

/// <summary>A layer's four projections (q/k/v fused, output, gate/up fused, down), prepared for decoding.</summary>
internal sealed class LayerProjections : IDisposable
{
    public Projection Qkv { get; }
    public Projection Output { get; }
    public Projection GateUp { get; }
    public Projection Down { get; }

    /// <param name="freeInto">When set (a quantized model), the projections keep only their packed weights and expand
    /// them into this scratch for libtorch; the caller then frees the layer's float matrices.</param>
    public LayerProjections(LayerWeights w, WeightQuantization quantization, DequantizationScratch? freeInto = null)
    {
        Qkv = Projection.Create(w.Qkv, quantization, w.InputNorm, freeInto);
        Output = Projection.Create(w.Output, quantization, null, freeInto);
        GateUp = Projection.Create(w.GateUp, quantization, w.PostAttentionNorm, freeInto);
        Down = Projection.Create(w.Down, quantization, null, freeInto);
    }

    public long StreamedBytes => Qkv.StreamedBytes + Output.StreamedBytes + GateUp.StreamedBytes + Down.StreamedBytes;
    public long PackedBytes => Qkv.PackedBytes + Output.PackedBytes + GateUp.PackedBytes + Down.PackedBytes;

    public void Dispose()
    {
        Qkv.Dispose(); Output.Dispose(); GateUp.Dispose(); Down.Dispose();
    }
}
