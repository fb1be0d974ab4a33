namespace LayerSkip.Extensions.AI;

/// <summary>The layer-skip choice of one request: a target speedup ratio, a policy, and (for Explicit) the layers.</summary>
public sealed record LayerSkipSettings(double SpeedupRatio, SkipPolicy Policy, IReadOnlyList<int>? Layers = null);
