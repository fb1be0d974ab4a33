using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;

namespace LayerSkip.Engine.Skipping;

/// <summary>
/// The layer-skip choice of one request: a target speedup ratio, a policy, (for <see cref="LayerPolicy.Explicit"/>)
/// the layers, and the mode. A null member is left to the defaults it is resolved against (<see cref="Over"/>).
/// Every value is checked when it is set, so a request that exists is valid. Read from and written to property
/// dictionaries by <see cref="LayerSkipProperties"/>.
/// </summary>
public sealed record LayerSkipRequest
{
    private readonly double? _speedupRatio;
    private readonly LayerPolicy? _policy;
    private readonly IReadOnlyList<int>? _layers;
    private readonly LayerSkipMode? _mode;
    private readonly int? _draftTokens;
    private readonly WeightFormat? _draftPrecision;
    private readonly DraftSource? _draftSource;

    /// <summary>Target decode speedup r ≥ 1: floor(L / r) layers run per decoded token.</summary>
    public double? SpeedupRatio
    {
        get => _speedupRatio;
        init
        {
            if (value is { } r) LayerPlanner.ValidateSpeedup(r, nameof(SpeedupRatio));
            _speedupRatio = value;
        }
    }

    /// <summary>Which layers run; null with <see cref="Layers"/> set means <see cref="LayerPolicy.Explicit"/>.</summary>
    public LayerPolicy? Policy
    {
        get => _policy;
        init
        {
            if (value is { } p && !Enum.IsDefined(p))
                throw new ArgumentOutOfRangeException(nameof(Policy), p, $"Not a layer policy. Valid names: {string.Join(", ", LayerPlanner.PolicyNames)}.");
            _policy = value;
        }
    }

    /// <summary>The layers each decoded token runs, for <see cref="LayerPolicy.Explicit"/> (checked against the model when the plan is built).</summary>
    public IReadOnlyList<int>? Layers
    {
        get => _layers;
        init
        {
            if (value is { Count: 0 }) throw new ArgumentException("At least one layer must be kept.", nameof(Layers));
            _layers = value?.ToArray();
        }
    }

    /// <summary>Decode with the plan (<see cref="LayerSkipMode.Skip"/>) or draft with it (<see cref="LayerSkipMode.Speculative"/>).</summary>
    public LayerSkipMode? Mode
    {
        get => _mode;
        init
        {
            if (value is { } m && !Enum.IsDefined(m)) throw new ArgumentOutOfRangeException(nameof(Mode), m, "The mode must be Skip or Speculative.");
            _mode = value;
        }
    }

    /// <summary>Speculative mode: the most tokens drafted per full-depth pass (at least 1).</summary>
    public int? DraftTokens
    {
        get => _draftTokens;
        init
        {
            if (value is < 1) throw new ArgumentOutOfRangeException(nameof(DraftTokens), value, "At least one token must be drafted.");
            _draftTokens = value;
        }
    }

    /// <summary>
    /// Speculative mode: the precision the drafts run at (<see cref="WeightFormat.None"/>: the model's own weights;
    /// int8 or int4: quantized copies of them, with or without a layer plan). Verification keeps the model's precision.
    /// </summary>
    public WeightFormat? DraftPrecision
    {
        get => _draftPrecision;
        init
        {
            if (value is { } f && !Enum.IsDefined(f)) throw new ArgumentOutOfRangeException(nameof(DraftPrecision), f, "The draft precision must be None, Int8 or Int4.");
            _draftPrecision = value;
        }
    }

    /// <summary>
    /// Speculative mode: where drafts come from, <see cref="Generation.DraftSource.Model"/> (the plan, at
    /// <see cref="DraftPrecision"/>) or <see cref="Generation.DraftSource.Lookup"/> (copied from the context; no plan applies).
    /// </summary>
    public DraftSource? DraftSource
    {
        get => _draftSource;
        init
        {
            if (value is { } d && !Enum.IsDefined(d)) throw new ArgumentOutOfRangeException(nameof(DraftSource), d, "The draft source must be Model or Lookup.");
            _draftSource = value;
        }
    }

    /// <summary>Seed of the <see cref="LayerPolicy.Random"/> policy.</summary>
    public int? Seed { get; init; }

    /// <summary>Whether this request chooses a plan (a ratio, a policy or layers) rather than leaving it to the defaults.</summary>
    public bool ChoosesPlan => SpeedupRatio is not null || Policy is not null || Layers is not null;

    /// <summary>The policy that applies: <see cref="Policy"/>, else Explicit when layers are given, else Unified.</summary>
    public LayerPolicy EffectivePolicy => Policy ?? (Layers is not null ? LayerPolicy.Explicit : LayerPolicy.Unified);

    /// <summary>Speculative decoding was asked for.</summary>
    public bool IsSpeculative => Mode == LayerSkipMode.Speculative;

    /// <summary>
    /// This request with <paramref name="defaults"/> filling what it leaves out. A request that names layers without
    /// a policy is Explicit whatever the default policy is.
    /// </summary>
    public LayerSkipRequest Over(LayerSkipRequest? defaults) => defaults is null ? this : new LayerSkipRequest
    {
        SpeedupRatio = SpeedupRatio ?? defaults.SpeedupRatio,
        Policy = Policy ?? (Layers is not null ? LayerPolicy.Explicit : defaults.Policy),
        Layers = Layers ?? (Policy is null or LayerPolicy.Explicit ? defaults.Layers : null),
        Mode = Mode ?? defaults.Mode,
        DraftTokens = DraftTokens ?? defaults.DraftTokens,
        DraftPrecision = DraftPrecision ?? defaults.DraftPrecision,
        DraftSource = DraftSource ?? defaults.DraftSource,
        Seed = Seed ?? defaults.Seed,
    };
}
