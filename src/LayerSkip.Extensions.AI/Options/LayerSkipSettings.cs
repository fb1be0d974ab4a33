namespace LayerSkip.Extensions.AI;

/// <summary>How a request uses its layer plan.</summary>
public enum LayerSkipMode
{
    /// <summary>Every decoded token runs only the plan's layers (fast, approximate).</summary>
    Skip,
    /// <summary>The plan drafts tokens and a full-depth pass verifies them (exact output, speed depends on agreement).</summary>
    Speculative,
}

/// <summary>The layer-skip choice of one request: a target speedup ratio, a policy, (for Explicit) the layers, and the mode.</summary>
public sealed record LayerSkipSettings(double SpeedupRatio, SkipPolicy Policy, IReadOnlyList<int>? Layers = null, LayerSkipMode Mode = LayerSkipMode.Skip);
