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

/// <summary>
/// Weight-only quantization applied at load to every linear layer and the LM head (with tied embeddings, the
/// embedding table too). The LM head may take another format than the layers (<see cref="HeadFormat"/>).
/// </summary>
public sealed record WeightQuantization(WeightFormat Format = WeightFormat.None, int GroupSize = WeightQuantization.DefaultGroupSize)
{
    /// <summary>
    /// The LM head's format when it differs from the layers' (int8 or int4; null: the same as the layers). Keeping
    /// the head at int8 under int4 layers, as llama.cpp's Q4_0 files do, recovers part of int4's loss on small models
    /// and reads more bytes per step on large vocabularies (+17 % on the Llama-3.2-1B shape; docs/benchmarks.md).
    /// </summary>
    public WeightFormat? HeadFormat { get; init; }

    /// <summary>The format the LM head is stored in.</summary>
    public WeightFormat Head => Format == WeightFormat.None ? WeightFormat.None : HeadFormat ?? Format;

    /// <summary>The quantization the LM head is made with.</summary>
    internal WeightQuantization ForHead() => new(Head, GroupSize);

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
        if (!IsValidGroupSize(g))
            throw new ArgumentException($"The int4 group size must be a power of two from 32 (32, 64, 128, 256, ...), not {g}.");
        return new WeightQuantization(f, g);
    }

    /// <summary>
    /// This quantization with the LM head stored as <paramref name="head"/>: <c>int8</c> or <c>int4</c>; null, empty
    /// or <c>same</c> keeps the layers' format. <paramref name="optionName"/> names the option in errors.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown format, or a head format for a model whose layers stay unquantized.</exception>
    public WeightQuantization WithHead(string? head, string optionName = "quantize-head")
    {
        var h = (head ?? "").Trim().ToLowerInvariant() switch
        {
            "" or "same" => (WeightFormat?)null,
            "int8" or "q8" => WeightFormat.Int8,
            "int4" or "q4" => WeightFormat.Int4,
            _ => throw new ArgumentException($"Option '{optionName}' must be int8, int4 or same, not '{head}'."),
        };
        if (h is not null && Format == WeightFormat.None)
            throw new ArgumentException($"Option '{optionName}' quantizes the LM head of a quantized model; set the layers' quantization (int8 or int4) too.");
        return this with { HeadFormat = h };
    }

    /// <summary>Whether the int4 kernel takes groups of <paramref name="groupSize"/> columns: a power of two from 32.</summary>
    public static bool IsValidGroupSize(int groupSize) => groupSize >= 32 && System.Numerics.BitOperations.IsPow2(groupSize);

    public override string ToString()
    {
        var layers = Format switch
        {
            WeightFormat.Int8 => "int8",
            WeightFormat.Int4 => $"int4 (group {GroupSize})",
            _ => "none",
        };
        return Head == Format ? layers : $"{layers}, LM head {Head.ToString().ToLowerInvariant()}";
    }
}
