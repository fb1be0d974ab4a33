namespace LayerSkip.Engine.Skipping;

/// <summary>How a request uses its layer plan.</summary>
public enum LayerSkipMode
{
    /// <summary>Every decoded token runs only the plan's layers (fast, approximate).</summary>
    Skip,
    /// <summary>The plan drafts tokens and a full-depth pass verifies them (exact output; the speed depends on agreement).</summary>
    Speculative,
}
