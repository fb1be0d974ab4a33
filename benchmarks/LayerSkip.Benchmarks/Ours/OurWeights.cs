using static TorchSharp.torch;

namespace LayerSkip.Benchmarks.Ours;

/// <summary>
/// How our engine holds the weights in a benchmark configuration: the compute dtype, and a weight-only quantization
/// when the engine offers one (<c>int8</c>, <c>int4</c>).
/// </summary>
public sealed record OurWeights(string Name, ScalarType DType, string Quantization, int? GroupSize = null)
{
    public static OurWeights Parse(string name) => name.ToLowerInvariant() switch
    {
        "bf16" or "bfloat16" => new("bf16", ScalarType.BFloat16, "none"),
        "f32" or "float32" => new("f32", ScalarType.Float32, "none"),
        "int8" or "int4" => new(name.ToLowerInvariant(), ScalarType.BFloat16, name.ToLowerInvariant()),
        _ => throw new ArgumentException($"Unknown weights '{name}' for our engine (use bf16, f32, int8 or int4)."),
    };

    /// <summary>
    /// Float32 activations over float32 or weight-only quantized weights (<c>none</c>, <c>int8</c>, <c>int4</c>, or
    /// <c>int4-g64</c> for another int4 group size): how quantization quality is measured, so only the weights differ
    /// from the unquantized model.
    /// </summary>
    public static OurWeights Float32(string quantization)
    {
        var parts = quantization.ToLowerInvariant().Split("-g", 2);
        int? groupSize = parts.Length == 2
            ? int.TryParse(parts[1], out var g) ? g : throw new ArgumentException($"--ours: '{quantization}' needs a group size after '-g' (for example int4-g64).")
            : null;
        var q = LayerSkip.Engine.Model.WeightQuantization.Parse(parts[0], groupSize, optionName: "--ours");
        if (groupSize is not null && q.Format != LayerSkip.Engine.Model.WeightFormat.Int4)
            throw new ArgumentException($"--ours: only int4 takes a group size, not '{quantization}'.");
        var format = q.Format.ToString().ToLowerInvariant();
        var name = q.Format == LayerSkip.Engine.Model.WeightFormat.None ? "float32" : groupSize is null ? format : $"{format}-g{groupSize}";
        return new(name, ScalarType.Float32, format, groupSize);
    }

    /// <summary>The engine's weight-only quantization for this configuration (none for bf16/f32).</summary>
    public LayerSkip.Engine.Model.WeightQuantization ToQuantization() => LayerSkip.Engine.Model.WeightQuantization.Parse(Quantization, GroupSize);
}
