using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Generation;

/// <summary>Why a sequence stopped.</summary>
public enum FinishReason { Stop, Length, Cancelled, Error }

/// <summary>One sequence to generate: a tokenized prompt, how to sample, and which layers decode.</summary>
public sealed record GenerationRequest
{
    public required IReadOnlyList<int> PromptTokens { get; init; }
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    /// <summary>The most tokens to generate (the sequence may also stop at the maximum sequence length).</summary>
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>Tokens that end the sequence; they are not part of the output. Defaults to the model's eos ids.</summary>
    public IReadOnlyCollection<int>? StopTokenIds { get; init; }
    /// <summary>Layers run for each decoded token; null runs all. Prefill always runs all layers.</summary>
    public LayerPlan? Plan { get; init; }
    public ILogitsProcessor? LogitsProcessor { get; init; }
    /// <summary>
    /// Speculative decoding: <see cref="Plan"/> drafts tokens (or they are copied from the context, see
    /// <see cref="SpeculativeOptions.Drafts"/>) that one full-depth pass then verifies, so the output is exactly the
    /// full model's (greedy: identical; sampled: the same distribution). Null decodes normally.
    /// </summary>
    public SpeculativeOptions? Speculative { get; init; }
}

/// <summary>Where speculative decoding takes its drafts from.</summary>
public enum DraftSource
{
    /// <summary>The model itself, cheaper: the request's layer plan, at <see cref="SpeculativeOptions.DraftPrecision"/>.</summary>
    Model,
    /// <summary>
    /// The context: the tokens that followed the latest earlier occurrence of the sequence's last few tokens, in its
    /// prompt or its output (prompt lookup). No draft steps; it pays where the output repeats its context.
    /// </summary>
    Lookup,
}

/// <summary>How self-speculative decoding drafts.</summary>
public sealed record SpeculativeOptions
{
    /// <summary>Where drafts come from; <see cref="DraftSource.Lookup"/> ignores the plan and takes no draft precision.</summary>
    public DraftSource Drafts
    {
        get => _drafts;
        init
        {
            if (!Enum.IsDefined(value)) throw new ArgumentOutOfRangeException(nameof(Drafts), value, "The draft source must be Model or Lookup.");
            _drafts = value;
        }
    }
    private readonly DraftSource _drafts;

    /// <summary>The most tokens drafted per verification pass.</summary>
    public int MaxDraftTokens { get; init; } = 6;
    /// <summary>Adapt the draft length to the acceptance rate (falling back to plain decoding when drafting does not pay).</summary>
    public bool Adaptive { get; init; } = true;
    /// <summary>
    /// The precision the draft steps run at: <see cref="WeightFormat.None"/> uses the model's own weights; int8 or int4
    /// drafts with quantized copies of them (extra memory, made when first asked for), alone or together with the
    /// request's layer plan. Verification always runs the full model at its own precision.
    /// </summary>
    public WeightFormat DraftPrecision
    {
        get => _draftPrecision;
        init
        {
            if (!Enum.IsDefined(value)) throw new ArgumentOutOfRangeException(nameof(DraftPrecision), value, "The draft precision must be None, Int8 or Int4.");
            _draftPrecision = value;
        }
    }
    private readonly WeightFormat _draftPrecision;
}

/// <summary>How a sequence ended, with its counts and timings.</summary>
public sealed record GenerationSummary(
    FinishReason FinishReason,
    int PromptTokens,
    int GeneratedTokens,
    TimeSpan PrefillTime,
    TimeSpan DecodeTime,
    LayerPlan Plan,
    int ReusedPromptTokens = 0,
    int DraftedTokens = 0,
    int AcceptedDraftTokens = 0,
    int FullDepthPasses = 0)
{
    /// <summary>Share of drafted tokens the full model accepted (speculative decoding only).</summary>
    public double AcceptanceRate => DraftedTokens == 0 ? 0 : (double)AcceptedDraftTokens / DraftedTokens;
}

/// <summary>A finished generation: the tokens and how it ended.</summary>
public sealed record GenerationResult(IReadOnlyList<int> Tokens, GenerationSummary Summary);
