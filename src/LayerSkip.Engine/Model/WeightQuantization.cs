namespace LayerSkip.Engine.Model;

/// <summary>How the linear layers' weights are stored for decoding.</summary>
public enum WeightFormat
{
    /// <summary>The compute dtype as loaded (bfloat16 or float32).</summary>
    None,
    /// <summary>int8, symmetric, one scale per output channel.</summary>
    Int8,
    /// <summary>int4, asymmetric per group of input columns (a scale and a min per group, fitted by least squares).</summary>
    Int4,
}

/// <summary>Weight-only quantization applied at load to every linear layer and the LM head.</summary>
public sealed record WeightQuantization(WeightFormat Format = WeightFormat.None, int GroupSize = WeightQuantization.DefaultGroupSize)
{
    /// <summary>The int4 group size when none is given (chosen by measured quality and bytes; see docs/benchmarks.md).</summary>
    public const int DefaultGroupSize = 128;

    public static WeightQuantization None { get; } = new();

    /// <summary>Parses <c>none</c>, <c>int8</c> or <c>int4</c>; <paramref name="optionName"/> names the option in errors.</summary>
    public static WeightQuantization Parse(string? format, int? groupSize = null, string optionName = "quantize")
    {
        var f = (format ?? "none").Trim().ToLowerInvariant() switch
        {
            "" or "none" or "bf16" or "bfloat16" or "float32" => WeightFormat.None,
            "int8" or "q8" => WeightFormat.Int8,
            "int4" or "q4" => WeightFormat.Int4,
            _ => throw new ArgumentException($"Option '{optionName}' must be none, int8 or int4, not '{format}'."),
        };
        var g = groupSize ?? DefaultGroupSize;
        if (g < 64 || g % 64 != 0)
            throw new ArgumentException($"The int4 group size must be a positive multiple of 64 (64, 128, 256, ...), not {g}.");
        return new WeightQuantization(f, g);
    }

    public override string ToString() => Format switch
    {
        WeightFormat.Int8 => "int8",
        WeightFormat.Int4 => $"int4 (group {GroupSize})",
        _ => "none",
    };
}
