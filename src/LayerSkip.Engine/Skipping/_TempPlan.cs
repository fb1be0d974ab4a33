namespace LayerSkip.Engine.Skipping;
public enum LayerPolicy { None, Unified, UnifiedEven, EarlyExit, SkipBottom, Random, Explicit, Calibrated }
public sealed class LayerPlan : IEquatable<LayerPlan>
{
    private readonly bool[] _runs;
    public LayerPlan(LayerPolicy p, double r, int l, IReadOnlyList<int> kept) { Policy = p; TargetSpeedup = r; LayerCount = l; KeptLayers = kept; _runs = new bool[l]; foreach (var k in kept) _runs[k] = true; }
    public LayerPolicy Policy { get; } public double TargetSpeedup { get; } public int LayerCount { get; } public IReadOnlyList<int> KeptLayers { get; }
    public bool IsFullDepth => KeptLayers.Count == LayerCount;
    public bool Runs(int layer) => _runs[layer];
    public static LayerPlan Full(int l) => new(LayerPolicy.None, 1, l, Enumerable.Range(0, l).ToArray());
    public bool Equals(LayerPlan? o) => o != null && o.LayerCount == LayerCount && o.KeptLayers.SequenceEqual(KeptLayers);
    public override bool Equals(object? o) => Equals(o as LayerPlan);
    public override int GetHashCode() => KeptLayers.Aggregate(LayerCount, HashCode.Combine);
}
public static class LayerPlanner
{
    public static LayerPlan Create(LayerPolicy policy, double speedup, int layerCount, int seed = 0, IReadOnlyList<int>? explicitLayers = null, IReadOnlyList<double>? layerImportance = null)
    {
        var k = Math.Max(2, (int)(layerCount / speedup));
        if (policy == LayerPolicy.Explicit) return new LayerPlan(policy, layerCount / (double)explicitLayers!.Count, layerCount, explicitLayers.Order().ToArray());
        if (policy == LayerPolicy.EarlyExit) return new LayerPlan(policy, speedup, layerCount, Enumerable.Range(0, k).ToArray());
        var interval = layerCount / (k - 1); var kept = new List<int> { 0 };
        for (var i = 1; i < layerCount - 1 && kept.Count < k - 1; i++) if (i % interval == 0) kept.Add(i);
        kept.Add(layerCount - 1);
        return new LayerPlan(policy, speedup, layerCount, kept);
    }
    public static int KeptLayerCount(int l, double r) => Math.Max(2, (int)(l / r));
    public static LayerPolicy ParsePolicy(string name) => Enum.Parse<LayerPolicy>(name, true);
}

public sealed class LayerImportance { public LayerImportance(IReadOnlyList<double> s, string f) { Scores = s; ModelFingerprint = f; } public IReadOnlyList<double> Scores { get; } public string ModelFingerprint { get; }
 public static LayerImportance Load(string p) => throw new NotImplementedException(); public void Save(string p) { } }
