namespace LayerSkip.Engine.Skipping;

/// <summary>
/// How a <see cref="LayerPlan"/> chooses which transformer layers run.
/// More members are added over time (e.g. speculative or router policies), so callers that switch on this enum
/// should always have a default branch.
/// </summary>
public enum LayerPolicy
{
    /// <summary>Full depth: every layer runs, whatever the requested speedup.</summary>
    None = 0,

    /// <summary>The Unified Layer Skipping rule (Liu, Meng, Zhou 2024): layers at a fixed interval from the bottom, plus the last layer.</summary>
    Unified,

    /// <summary>k layers at rounded, evenly spaced positions from the first to the last layer.</summary>
    UnifiedEven,

    /// <summary>The bottom k layers run; the top layers are skipped.</summary>
    EarlyExit,

    /// <summary>The top k layers run; the bottom layers are skipped.</summary>
    SkipBottom,

    /// <summary>k distinct layers drawn with a seeded random generator (deterministic per seed).</summary>
    Random,

    /// <summary>Exactly the caller's list of layers.</summary>
    Explicit,

    /// <summary>First and last layers plus the k − 2 most important of the rest, according to per-layer importance scores.</summary>
    Calibrated,

    /// <summary>
    /// Token-level routing (Zeng et al. 2023): every layer may run, and the model's trained routers decide per token
    /// (see <c>layerskip train-router</c>). The plan is full depth; the engine applies its routers.
    /// </summary>
    Router,
}
