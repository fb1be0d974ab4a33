namespace LayerSkip.Engine.Model;

/// <summary>A layer's four projections (q/k/v fused, output, gate/up fused, down), prepared for decoding.</summary>
internal sealed class LayerProjections : IDisposable
{
    public Projection Qkv { get; }
    public Projection Output { get; }
    public Projection GateUp { get; }
    public Projection Down { get; }

    public LayerProjections(LayerWeights w, WeightQuantization quantization)
    {
        Qkv = Projection.Create(w.Qkv, quantization, w.InputNorm);
        Output = Projection.Create(w.Output, quantization);
        GateUp = Projection.Create(w.GateUp, quantization, w.PostAttentionNorm);
        Down = Projection.Create(w.Down, quantization);
    }

    public long StreamedBytes => Qkv.StreamedBytes + Output.StreamedBytes + GateUp.StreamedBytes + Down.StreamedBytes;

    public void Dispose()
    {
        Qkv.Dispose(); Output.Dispose(); GateUp.Dispose(); Down.Dispose();
    }
}
