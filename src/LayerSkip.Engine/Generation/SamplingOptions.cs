using LayerSkip.Engine.Loading;

namespace LayerSkip.Engine.Generation;

/// <summary>How the next token is chosen. Temperature 0 is greedy; a seed makes sampling reproducible.</summary>
public sealed record SamplingOptions
{
    public double Temperature { get; init; } = 0.0;
    public int? TopK { get; init; }
    public double? TopP { get; init; }
    public int? Seed { get; init; }
    /// <summary>Subtracted from a token's logit once per earlier occurrence in the output.</summary>
    public double FrequencyPenalty { get; init; }
    /// <summary>Subtracted from a token's logit if it occurred in the output at all.</summary>
    public double PresencePenalty { get; init; }

    public static SamplingOptions Greedy { get; } = new();

    /// <summary>
    /// The sampling a caller asks for, with the model's generation_config defaults (temperature, top-p, top-k) for
    /// what it leaves out, and temperature 0.7 when neither says. The CLI and the chat client both start here.
    /// </summary>
    public static SamplingOptions ForModel(ModelConfig config, double? temperature = null, double? topP = null, int? topK = null, int? seed = null) => new()
    {
        Temperature = temperature ?? config.DefaultTemperature ?? 0.7,
        TopP = topP ?? config.DefaultTopP,
        TopK = topK ?? config.DefaultTopK,
        Seed = seed,
    };

    public void Validate()
    {
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be a finite number ≥ 0.");
        if (TopK is <= 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be positive.");
        if (TopP is { } p && (!(p > 0) || p > 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (!double.IsFinite(FrequencyPenalty)) throw new ArgumentOutOfRangeException(nameof(FrequencyPenalty));
        if (!double.IsFinite(PresencePenalty)) throw new ArgumentOutOfRangeException(nameof(PresencePenalty));
    }
}
