using System.Globalization;
using System.Text;

namespace LayerSkip.Engine.Skipping;

/// <summary>
/// An immutable choice of which transformer layers run for a forward pass.
/// </summary>
/// <remarks>
/// Equality and hashing consider only <see cref="LayerCount"/> and <see cref="KeptLayers"/>: two plans that run the
/// same layers execute identically, whatever policy or target speedup produced them, so they can share a batch.
/// </remarks>
public sealed class LayerPlan : IEquatable<LayerPlan>
{
    private readonly int[] _kept;
    private readonly bool[] _runs;
    private readonly int _hash;

    /// <summary>
    /// Creates a plan running <paramref name="keptLayers"/> (in any order) out of <paramref name="layerCount"/> layers.
    /// Most callers use <see cref="LayerPlanner.Create"/> or <see cref="Full"/> instead.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="layerCount"/> is below 1, or <paramref name="targetSpeedup"/> is below 1, NaN or infinite.
    /// </exception>
    /// <exception cref="ArgumentException">The layer list is empty, has duplicates, or has an index out of range.</exception>
    public LayerPlan(LayerPolicy policy, double targetSpeedup, int layerCount, IEnumerable<int> keptLayers)
    {
        LayerPlanner.ValidateLayerCount(layerCount);
        LayerPlanner.ValidateSpeedup(targetSpeedup, nameof(targetSpeedup));
        ArgumentNullException.ThrowIfNull(keptLayers);

        _kept = LayerPlanner.ValidateLayerList(keptLayers, layerCount, nameof(keptLayers));
        _runs = new bool[layerCount];
        foreach (var layer in _kept) _runs[layer] = true;

        Policy = policy;
        TargetSpeedup = targetSpeedup;
        LayerCount = layerCount;
        KeptLayers = Array.AsReadOnly(_kept);

        var hash = new HashCode();
        hash.Add(layerCount);
        foreach (var layer in _kept) hash.Add(layer);
        _hash = hash.ToHashCode();
    }

    /// <summary>A plan that runs every one of <paramref name="layerCount"/> layers (policy <see cref="LayerPolicy.None"/>, speedup 1).</summary>
    public static LayerPlan Full(int layerCount)
    {
        LayerPlanner.ValidateLayerCount(layerCount);
        return new LayerPlan(LayerPolicy.None, 1.0, layerCount, Enumerable.Range(0, layerCount));
    }

    /// <summary>The policy that produced this plan (informational; not part of equality).</summary>
    public LayerPolicy Policy { get; }

    /// <summary>The requested speedup r (for <see cref="LayerPolicy.Explicit"/>, L / kept count; for full plans, 1).</summary>
    public double TargetSpeedup { get; }

    /// <summary>Total number of transformer layers L in the model.</summary>
    public int LayerCount { get; }

    /// <summary>The indices of the layers that run, ascending and distinct.</summary>
    public IReadOnlyList<int> KeptLayers { get; }

    /// <summary>Number of layers that run.</summary>
    public int KeptCount => _kept.Length;

    /// <summary>True when every layer runs.</summary>
    public bool IsFullDepth => _kept.Length == LayerCount;

    /// <summary>Fraction of the layers that run (kept / L); the approximate per-token compute relative to full depth.</summary>
    public double ComputeFraction => (double)_kept.Length / LayerCount;

    /// <summary>Whether layer <paramref name="layer"/> runs. O(1). Out-of-range indices return false.</summary>
    public bool Runs(int layer) => (uint)layer < (uint)_runs.Length && _runs[layer];

    /// <inheritdoc />
    public bool Equals(LayerPlan? other)
    {
        if (ReferenceEquals(this, other)) return true;
        if (other is null || other.LayerCount != LayerCount || other._hash != _hash) return false;
        return _kept.AsSpan().SequenceEqual(other._kept);
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as LayerPlan);

    /// <inheritdoc />
    public override int GetHashCode() => _hash;

    /// <summary>Value equality over (LayerCount, KeptLayers).</summary>
    public static bool operator ==(LayerPlan? left, LayerPlan? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Value inequality over (LayerCount, KeptLayers).</summary>
    public static bool operator !=(LayerPlan? left, LayerPlan? right) => !(left == right);

    /// <summary>E.g. "unified r=2 kept 0,2,4,…,28,31 (16/32 layers)".</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(LayerPlanner.PolicyName(Policy));
        sb.Append(" r=").Append(TargetSpeedup.ToString("0.###", CultureInfo.InvariantCulture));
        sb.Append(" kept ").AppendJoin(',', _kept);
        sb.Append(" (").Append(_kept.Length).Append('/').Append(LayerCount).Append(" layers)");
        return sb.ToString();
    }
}
