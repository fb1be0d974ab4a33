using System.Globalization;

namespace LayerSkip.Engine.Skipping;

/// <summary>
/// Builds <see cref="LayerPlan"/>s: which of a model's L layers run for a target speedup r.
/// Every policy except <see cref="LayerPolicy.Explicit"/> keeps exactly <see cref="KeptLayerCount"/> layers,
/// so for a given (L, r) all policies cost the same.
/// </summary>
public static class LayerPlanner
{
    /// <summary>The policy names <see cref="ParsePolicy"/> accepts: the <see cref="LayerPolicy"/> member names, in lower case.</summary>
    public static IReadOnlyList<string> PolicyNames { get; } = Enum.GetValues<LayerPolicy>().Select(PolicyName).ToArray();

    // Guards floor(L / r) against representation error when r was itself computed as L / k.
    private const double FloorTolerance = 1e-9;

    /// <summary>
    /// Number of layers kept for speedup <paramref name="speedup"/>: k = floor(L / r), at least 2 and at most L
    /// (for a one-layer model, 1).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">L below 1, or r below 1, NaN or infinite.</exception>
    public static int KeptLayerCount(int layerCount, double speedup)
    {
        ValidateLayerCount(layerCount);
        ValidateSpeedup(speedup, nameof(speedup));
        if (layerCount == 1) return 1;
        var k = (int)Math.Floor(layerCount / speedup + FloorTolerance);
        return Math.Clamp(k, 2, layerCount);
    }

    /// <summary>
    /// Creates a plan for a model of <paramref name="layerCount"/> layers.
    /// </summary>
    /// <param name="policy">Which layers to keep.</param>
    /// <param name="speedup">Target speedup r ≥ 1; k = <see cref="KeptLayerCount"/> layers are kept. Ignored (but still validated) by
    /// <see cref="LayerPolicy.None"/> and <see cref="LayerPolicy.Explicit"/>.</param>
    /// <param name="layerCount">Number of transformer layers L ≥ 1.</param>
    /// <param name="seed">Seed for <see cref="LayerPolicy.Random"/>.</param>
    /// <param name="explicitLayers">Layer indices for <see cref="LayerPolicy.Explicit"/> (any order, no duplicates).</param>
    /// <param name="layerImportance">One score per layer for <see cref="LayerPolicy.Calibrated"/>; higher = more important.</param>
    /// <exception cref="ArgumentOutOfRangeException">Bad <paramref name="speedup"/> or <paramref name="layerCount"/>.</exception>
    /// <exception cref="ArgumentException">Bad or missing explicit layers or importance scores, or an unknown policy.</exception>
    public static LayerPlan Create(
        LayerPolicy policy,
        double speedup,
        int layerCount,
        int seed = 0,
        IReadOnlyList<int>? explicitLayers = null,
        IReadOnlyList<double>? layerImportance = null)
    {
        ValidateSpeedup(speedup, nameof(speedup));
        ValidateLayerCount(layerCount);

        switch (policy)
        {
            case LayerPolicy.None:
                return LayerPlan.Full(layerCount);

            case LayerPolicy.Router:
                return new LayerPlan(LayerPolicy.Router, 1.0, layerCount, Range(0, layerCount));

            case LayerPolicy.Explicit:
            {
                if (explicitLayers is null || explicitLayers.Count == 0)
                    throw new ArgumentException(
                        "The explicit policy needs a non-empty list of layer indices to keep.", nameof(explicitLayers));
                var layers = ValidateLayerList(explicitLayers, layerCount, nameof(explicitLayers));
                return new LayerPlan(policy, (double)layerCount / layers.Length, layerCount, layers);
            }
        }

        var k = KeptLayerCount(layerCount, speedup);
        int[] kept = policy switch
        {
            LayerPolicy.Unified => UnifiedLayers(layerCount, k),
            LayerPolicy.UnifiedEven => UnifiedEvenLayers(layerCount, k),
            LayerPolicy.EarlyExit => Range(0, k),
            LayerPolicy.SkipBottom => Range(layerCount - k, k),
            LayerPolicy.Random => RandomLayers(layerCount, k, seed),
            LayerPolicy.Calibrated => CalibratedLayers(layerCount, k, layerImportance),
            _ => throw new ArgumentException($"Layer policy '{policy}' is not supported by {nameof(LayerPlanner)}.", nameof(policy)),
        };
        return new LayerPlan(policy, speedup, layerCount, kept);
    }

    /// <summary>
    /// The one parser of policy names, used by the CLI, chat options, Semantic Kernel settings and adapted-plan files.
    /// A name is a <see cref="LayerPolicy"/> member name, matched case-insensitively ("unifiedeven", "UnifiedEven"),
    /// with surrounding white space ignored; there are no other spellings.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the valid names.</exception>
    public static LayerPolicy ParsePolicy(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = name.Trim();
        foreach (var policy in Enum.GetValues<LayerPolicy>())
            if (string.Equals(key, policy.ToString(), StringComparison.OrdinalIgnoreCase)) return policy;
        throw new ArgumentException($"Unknown layer policy '{name}'. Valid names: {string.Join(", ", PolicyNames)}.", nameof(name));
    }

    /// <summary>The lower-case name of a policy, as <see cref="ParsePolicy"/> reads it and <see cref="LayerPlan.ToString"/> writes it.</summary>
    public static string PolicyName(LayerPolicy policy) => policy.ToString().ToLowerInvariant();

    // ---- policies ----

    /// <summary>
    /// The paper's rule: interval d = floor(L / (k − 1)); walking up from layer 1, keep each layer that is a multiple of d
    /// until k − 1 layers are kept (layer 0 counts), then keep the last layer L − 1.
    /// </summary>
    private static int[] UnifiedLayers(int layerCount, int k)
    {
        if (k >= layerCount) return Range(0, layerCount);
        // Here 2 <= k < L.
        var interval = layerCount / (k - 1);
        var kept = new List<int>(k) { 0 };
        for (var layer = 1; layer < layerCount - 1 && kept.Count < k - 1; layer++)
            if (layer % interval == 0) kept.Add(layer);
        kept.Add(layerCount - 1);
        return [.. kept];
    }

    /// <summary>round(i·(L − 1)/(k − 1)) for i = 0..k − 1, midpoints away from zero.</summary>
    private static int[] UnifiedEvenLayers(int layerCount, int k)
    {
        if (k >= layerCount) return Range(0, layerCount);
        if (k == 1) return [0];
        var kept = new int[k];
        for (var i = 0; i < k; i++)
            kept[i] = (int)Math.Round((double)i * (layerCount - 1) / (k - 1), MidpointRounding.AwayFromZero);
        return kept;
    }

    /// <summary>k distinct layers from a partial Fisher–Yates shuffle driven by <c>new Random(seed)</c>, sorted.</summary>
    private static int[] RandomLayers(int layerCount, int k, int seed)
    {
        var pool = Range(0, layerCount);
        var rng = new Random(seed);
        for (var i = 0; i < k; i++)
        {
            var j = rng.Next(i, layerCount);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        var kept = pool[..k];
        Array.Sort(kept);
        return kept;
    }

    /// <summary>First and last layers plus the k − 2 highest-scoring of the rest (ties → lower index), sorted.</summary>
    private static int[] CalibratedLayers(int layerCount, int k, IReadOnlyList<double>? importance)
    {
        if (importance is null || importance.Count == 0)
            throw new ArgumentException(
                "The calibrated policy needs per-layer importance scores (see LayerImportance); none were given.",
                "layerImportance");
        if (importance.Count != layerCount)
            throw new ArgumentException(
                $"The calibrated policy needs one importance score per layer: got {importance.Count} scores for {layerCount} layers.",
                "layerImportance");
        for (var i = 0; i < importance.Count; i++)
            if (!double.IsFinite(importance[i]))
                throw new ArgumentException(
                    $"Importance score for layer {i} is {importance[i].ToString(CultureInfo.InvariantCulture)}; scores must be finite.",
                    "layerImportance");

        if (k >= layerCount) return Range(0, layerCount);
        if (k == 1) return [0];

        var middle = Enumerable.Range(1, layerCount - 2)
            .OrderByDescending(layer => importance[layer])
            .ThenBy(layer => layer)
            .Take(k - 2);
        var kept = new List<int>(k) { 0 };
        kept.AddRange(middle);
        kept.Add(layerCount - 1);
        kept.Sort();
        return [.. kept];
    }

    private static int[] Range(int start, int count)
    {
        var a = new int[count];
        for (var i = 0; i < count; i++) a[i] = start + i;
        return a;
    }

    // ---- validation (shared with LayerPlan and LayerSkipRequest) ----

    /// <summary>The one check of a speedup ratio: finite and at least 1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">r below 1, NaN or infinite; named <paramref name="paramName"/>.</exception>
    public static void ValidateSpeedup(double speedup, string paramName)
    {
        if (!double.IsFinite(speedup) || speedup < 1.0)
            throw new ArgumentOutOfRangeException(
                paramName, speedup,
                $"Speedup must be a finite number ≥ 1 (1 = full depth); got {speedup.ToString(CultureInfo.InvariantCulture)}.");
    }

    internal static void ValidateLayerCount(int layerCount)
    {
        if (layerCount < 1)
            throw new ArgumentOutOfRangeException(
                nameof(layerCount), layerCount, $"Layer count must be at least 1; got {layerCount}.");
    }

    /// <summary>Returns a sorted copy; throws on empty lists, out-of-range indices and duplicates, naming the offending entry.</summary>
    internal static int[] ValidateLayerList(IEnumerable<int> layers, int layerCount, string paramName)
    {
        var list = layers.ToArray();
        if (list.Length == 0)
            throw new ArgumentException("The layer list is empty; at least one layer must be kept.", paramName);

        var seen = new bool[layerCount];
        for (var i = 0; i < list.Length; i++)
        {
            var layer = list[i];
            if (layer < 0 || layer >= layerCount)
                throw new ArgumentException(
                    $"Layer index {layer} (entry {i}) is out of range; valid indices are 0..{layerCount - 1}.", paramName);
            if (seen[layer])
                throw new ArgumentException($"Layer index {layer} (entry {i}) appears more than once.", paramName);
            seen[layer] = true;
        }
        Array.Sort(list);
        return list;
    }
}
