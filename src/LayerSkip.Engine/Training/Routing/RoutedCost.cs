using LayerSkip.Engine.Loading;

namespace LayerSkip.Engine.Training.Routing;

/// <summary>
/// What routing really saves. A token routed past a layer still writes that layer's keys and values (later tokens
/// that run the layer attend to it), so a skipped (token, layer) pair costs its K/V projections:
/// 2·kv / (q + 2·kv + o + mlp) of the layer's weight work (attention scores not counted).
/// </summary>
public static class RoutedCost
{
    /// <summary>The share of a layer's weight work that a skipped token still does.</summary>
    public static double SkippedShare(ModelConfig c)
    {
        double q = c.NumHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim;
        // Per hidden unit of input: q, k, v and o projections, then gate, up and down of the MLP.
        return 2 * kv / (q + 2 * kv + q + 3.0 * c.IntermediateSize);
    }

    /// <summary>The execution rate weighted by compute: run pairs count fully, skipped pairs their K/V share.</summary>
    public static double ComputeWeightedRate(double layersRunRate, ModelConfig config) =>
        layersRunRate + (1 - layersRunRate) * SkippedShare(config);
}
