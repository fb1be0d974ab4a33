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
    /// <param name="fitted">Kernels fitted on calibration text for some of layer <paramref name="layer"/>'s projections
    /// (see <see cref="GptqCalibration"/>), taken instead of quantizing those here.</param>
    public LayerProjections(LayerWeights w, WeightQuantization quantization, DequantizationScratch? freeInto = null,
        FittedProjections? fitted = null, int layer = 0)
    {
        Projection Create(ProjectionKind kind) =>
            Projection.Create(w.Projection(kind), quantization, ColumnImportance.FromNorm(w.NormBefore(kind)), freeInto, fitted?.Take(layer, kind));
        Qkv = Create(ProjectionKind.Qkv);
        Output = Create(ProjectionKind.Output);
        GateUp = Create(ProjectionKind.GateUp);
        Down = Create(ProjectionKind.Down);
    }

    /// <summary>The projection of this kind (not the LM head, which is the model's).</summary>
    public Projection this[ProjectionKind kind] => kind switch
    {
        ProjectionKind.Qkv => Qkv,
        ProjectionKind.Output => Output,
        ProjectionKind.GateUp => GateUp,
        ProjectionKind.Down => Down,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "A layer has no LM head."),
    };

    public long StreamedBytes => Qkv.StreamedBytes + Output.StreamedBytes + GateUp.StreamedBytes + Down.StreamedBytes;
    public long PackedBytes => Qkv.PackedBytes + Output.PackedBytes + GateUp.PackedBytes + Down.PackedBytes;

    public void Dispose()
    {
        Qkv.Dispose(); Output.Dispose(); GateUp.Dispose(); Down.Dispose();
    }
}
