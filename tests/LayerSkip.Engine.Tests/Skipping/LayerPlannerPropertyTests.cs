using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Tests.Skipping;

/// <summary>Invariants over every L in 1..80 and a spread of integer and fractional speedups.</summary>
public class LayerPlannerPropertyTests
{
    private static readonly LayerPolicy[] SizedPolicies =
    [
        LayerPolicy.Unified, LayerPolicy.UnifiedEven, LayerPolicy.EarlyExit,
        LayerPolicy.SkipBottom, LayerPolicy.Random, LayerPolicy.Calibrated,
    ];

    private static IEnumerable<double> Speedups(int layers)
    {
        for (var r = 1; r <= layers; r++) yield return r;
        foreach (var r in new[] { 1.5, 2.5, 3.3, 1.01, 7.75 })
            if (r <= layers) yield return r;
        for (var k = 2; k < layers; k += Math.Max(1, layers / 7)) yield return (double)layers / k;
    }

    private static double[] Scores(int layers, int salt)
    {
        var rng = new Random(1000 + layers * 31 + salt);
        var scores = new double[layers];
        for (var i = 0; i < layers; i++) scores[i] = Math.Round(rng.NextDouble(), 2); // rounding forces some ties
        return scores;
    }

    [Fact]
    public void EveryPolicy_KeepsKDistinctAscendingInRangeLayers()
    {
        for (var layers = 1; layers <= 80; layers++)
        {
            var scores = Scores(layers, 0);
            foreach (var r in Speedups(layers))
            {
                var k = LayerPlanner.KeptLayerCount(layers, r);
                Assert.InRange(k, Math.Min(2, layers), layers);
                Assert.Equal(layers == 1 ? 1 : Math.Max(2, (int)Math.Floor(layers / r + 1e-9)), k);

                foreach (var policy in SizedPolicies)
                {
                    var plan = LayerPlanner.Create(policy, r, layers, seed: layers, layerImportance: scores);
                    var kept = plan.KeptLayers;
                    var ctx = $"{policy} L={layers} r={r}";

                    Assert.True(k == kept.Count, $"{ctx}: expected {k} layers, got {plan}");
                    Assert.Equal(layers, plan.LayerCount);
                    Assert.Equal(r, plan.TargetSpeedup);
                    for (var i = 0; i < kept.Count; i++)
                    {
                        Assert.True(kept[i] >= 0 && kept[i] < layers, $"{ctx}: out of range {plan}");
                        if (i > 0) Assert.True(kept[i] > kept[i - 1], $"{ctx}: not strictly ascending {plan}");
                    }
                    var runCount = 0;
                    for (var l = 0; l < layers; l++)
                        if (plan.Runs(l)) { runCount++; Assert.Contains(l, kept); }
                    Assert.Equal(k, runCount);
                    Assert.Equal((double)k / layers, plan.ComputeFraction, 12);
                    Assert.Equal(k == layers, plan.IsFullDepth);

                    if (policy is LayerPolicy.Unified or LayerPolicy.UnifiedEven or LayerPolicy.Calibrated)
                    {
                        Assert.True(kept[0] == 0, $"{ctx}: first layer dropped {plan}");
                        Assert.True(kept[^1] == layers - 1, $"{ctx}: last layer dropped {plan}");
                    }
                }
            }
        }
    }

    [Fact]
    public void Unified_KeptLayersBelowTheTopAreMultiplesOfTheInterval()
    {
        for (var layers = 3; layers <= 80; layers++)
            foreach (var r in Speedups(layers))
            {
                var k = LayerPlanner.KeptLayerCount(layers, r);
                if (k >= layers) continue;
                var interval = layers / (k - 1);
                var kept = LayerPlanner.Create(LayerPolicy.Unified, r, layers).KeptLayers;
                for (var i = 0; i < kept.Count - 1; i++) Assert.Equal(i * interval, kept[i]);
            }
    }

    [Fact]
    public void SpeedupOne_KeepsAllLayers_ForEveryPolicy()
    {
        for (var layers = 1; layers <= 80; layers++)
        {
            var all = Enumerable.Range(0, layers).ToArray();
            foreach (var policy in SizedPolicies.Append(LayerPolicy.None))
            {
                var plan = LayerPlanner.Create(policy, 1, layers, seed: 3, layerImportance: Scores(layers, 1));
                Assert.True(plan.IsFullDepth, $"{policy} L={layers}: {plan}");
                Assert.Equal(all, plan.KeptLayers);
                Assert.Equal(LayerPlan.Full(layers), plan);
            }
            Assert.True(LayerPlanner.Create(LayerPolicy.Explicit, 1, layers, explicitLayers: all).IsFullDepth);
        }
    }

    [Fact]
    public void Random_IsDeterministicPerSeed_AndVariesAcrossSeeds()
    {
        for (var layers = 1; layers <= 80; layers++)
            foreach (var r in new[] { 2.0, 3.0, 4.5 })
                foreach (var seed in new[] { 0, 1, 12345, -7 })
                    Assert.Equal(
                        LayerPlanner.Create(LayerPolicy.Random, r, layers, seed: seed).KeptLayers,
                        LayerPlanner.Create(LayerPolicy.Random, r, layers, seed: seed).KeptLayers);

        foreach (var layers in new[] { 16, 32, 80 })
        {
            var distinct = Enumerable.Range(0, 10)
                .Select(seed => LayerPlanner.Create(LayerPolicy.Random, 2, layers, seed: seed))
                .Distinct()
                .Count();
            Assert.True(distinct >= 5, $"L={layers}: only {distinct} distinct plans from 10 seeds");
        }
        Assert.NotEqual(
            LayerPlanner.Create(LayerPolicy.Random, 4, 32, seed: 1).KeptLayers,
            LayerPlanner.Create(LayerPolicy.Random, 4, 32, seed: 2).KeptLayers);
    }

    [Fact]
    public void Random_IsNotJustTheBottomOrTop()
    {
        // With 20 seeds on L=32, r=4 at least one draw must leave the bottom-8 / top-8 patterns.
        var plans = Enumerable.Range(0, 20).Select(s => LayerPlanner.Create(LayerPolicy.Random, 4, 32, seed: s)).ToList();
        Assert.Contains(plans, p => p != LayerPlanner.Create(LayerPolicy.EarlyExit, 4, 32)
                                  && p != LayerPlanner.Create(LayerPolicy.SkipBottom, 4, 32));
    }
}
