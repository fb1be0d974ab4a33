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
    /// Float32 activations over float32 or weight-only quantized weights (<c>none</c>, <c>int8</c>, <c>int4</c>; int4
    /// may add <c>-gN</c> for another group size, <c>-h8</c> for an int8 LM head, and <c>-cal</c> for the GPTQ-style fit
    /// calibrated on text, as in <c>int4-g32-h8-cal</c>): how quantization quality is
    /// measured, so only the weights differ from the unquantized model.
    /// </summary>
    public static OurWeights Float32(string quantization)
    {
        var parts = quantization.ToLowerInvariant().Split('-');
        int? groupSize = null;
        string? head = null;
        var calibrated = false;
        foreach (var part in parts.Skip(1))
            if (part.StartsWith('g') && int.TryParse(part[1..], out var g)) groupSize = g;
            else if (part is "h8" or "h4") head = part == "h8" ? "int8" : "int4";
            else if (part == "cal") calibrated = true;
            else throw new ArgumentException($"--ours: '{quantization}': '-{part}' is neither a group size (-g64), an LM head format (-h8, -h4) nor -cal.");
        var q = LayerSkip.Engine.Model.WeightQuantization.Parse(parts[0], groupSize, optionName: "--ours").WithHead(head, "--ours");
        if ((groupSize is not null || head is not null || calibrated) && q.Format != LayerSkip.Engine.Model.WeightFormat.Int4)
            throw new ArgumentException($"--ours: only int4 takes a group size, a head format or -cal, not '{quantization}'.");
        var format = q.Format.ToString().ToLowerInvariant();
        var name = q.Format == LayerSkip.Engine.Model.WeightFormat.None ? "float32" : string.Join('-', parts);
        return new(name, ScalarType.Float32, format, groupSize) { Head = head, Calibrated = calibrated };
    }

    /// <summary>The LM head's format when it differs from the layers' (<c>int8</c>, <c>int4</c>), or null.</summary>
    public string? Head { get; init; }

    /// <summary>Whether the int4 fit is calibrated on text, GPTQ-style (<c>-cal</c>).</summary>
    public bool Calibrated { get; init; }

    /// <summary>The engine's weight-only quantization for this configuration (none for bf16/f32).</summary>
    public LayerSkip.Engine.Model.WeightQuantization ToQuantization() =>
        LayerSkip.Engine.Model.WeightQuantization.Parse(Quantization, GroupSize).WithHead(Head);
}
