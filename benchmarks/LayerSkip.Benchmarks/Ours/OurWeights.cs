using static TorchSharp.torch;

namespace LayerSkip.Benchmarks.Ours;

/// <summary>
/// How our engine holds the weights in a benchmark configuration: the compute dtype, and a weight-only quantization
/// when the engine offers one (<c>int8</c>, <c>int4</c>).
/// </summary>
public sealed record OurWeights(string Name, ScalarType DType, string Quantization)
{
    public static OurWeights Parse(string name) => name.ToLowerInvariant() switch
    {
        "bf16" or "bfloat16" => new("bf16", ScalarType.BFloat16, "none"),
        "f32" or "float32" => new("f32", ScalarType.Float32, "none"),
        "int8" or "int4" => new(name.ToLowerInvariant(), ScalarType.BFloat16, name.ToLowerInvariant()),
        _ => throw new ArgumentException($"Unknown weights '{name}' for our engine (use bf16, f32, int8 or int4)."),
    };

    /// <summary>The engine's weight-only quantization for this configuration (none for bf16/f32).</summary>
    public LayerSkip.Engine.Model.WeightQuantization ToQuantization() => LayerSkip.Engine.Model.WeightQuantization.Parse(Quantization);
}
