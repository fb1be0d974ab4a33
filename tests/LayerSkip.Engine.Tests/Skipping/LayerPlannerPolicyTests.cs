using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Tests.Skipping;

/// <summary>Exact layer lists, written out by hand, for every policy.</summary>
public class LayerPlannerPolicyTests
{
    private static int[] Seq(int start, int stop, int step = 1)
    {
        var list = new List<int>();
        for (var i = start; i <= stop; i += step) list.Add(i);
        return [.. list];
    }

    public static TheoryData<int, double, int[]> UnifiedCases => new()
    {
        // The paper's examples for a 32-layer model.
        { 32, 2, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 31] },
        { 32, 3, [0, 3, 6, 9, 12, 15, 18, 21, 24, 31] },
        { 32, 4, [0, 4, 8, 12, 16, 20, 24, 31] },
        { 32, 5, [0, 6, 12, 18, 24, 31] },
        { 30, 5, [0, 6, 12, 18, 24, 29] },
        { 32, 1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31] },
        // Small cases: k = floor(L/r), interval = floor(L/(k-1)).
        { 10, 3, [0, 5, 9] },          // k=3, d=5
        { 12, 2.5, [0, 4, 8, 11] },    // k=4, d=4
        { 8, 4, [0, 7] },              // k=2
        { 8, 100, [0, 7] },            // k clamps to 2
        { 2, 2, [0, 1] },
        { 1, 1, [0] },
        { 1, 7, [0] },
        { 6, 1.5, [0, 2, 4, 5] },      // k=4, d=2
    };

    [Theory]
    [MemberData(nameof(UnifiedCases))]
    public void Unified_MatchesPaperRule(int layers, double r, int[] expected)
    {
        var plan = LayerPlanner.Create(LayerPolicy.Unified, r, layers);
        Assert.Equal(expected, plan.KeptLayers);
        Assert.Equal(LayerPolicy.Unified, plan.Policy);
        Assert.Equal(r, plan.TargetSpeedup);
    }

    public static TheoryData<int, double, int[]> UnifiedEvenCases => new()
    {
        { 10, 3, [0, 5, 9] },                       // 0, 4.5→5, 9
        { 12, 2.5, [0, 4, 7, 11] },                 // 0, 3.67, 7.33, 11
        { 32, 4, [0, 4, 9, 13, 18, 22, 27, 31] },   // i·31/7
        { 6, 2, [0, 3, 5] },                        // 2.5 rounds away from zero
        { 7, 2, [0, 3, 6] },
        { 8, 4, [0, 7] },
        { 1, 1, [0] },
        { 5, 1, [0, 1, 2, 3, 4] },
    };

    [Theory]
    [MemberData(nameof(UnifiedEvenCases))]
    public void UnifiedEven_RoundsEvenlySpacedPositions(int layers, double r, int[] expected) =>
        Assert.Equal(expected, LayerPlanner.Create(LayerPolicy.UnifiedEven, r, layers).KeptLayers);

    public static TheoryData<int, double, int[]> EarlyExitCases => new()
    {
        { 10, 3, [0, 1, 2] },
        { 32, 4, [0, 1, 2, 3, 4, 5, 6, 7] },
        { 8, 100, [0, 1] },
        { 1, 3, [0] },
        { 4, 1, [0, 1, 2, 3] },
    };

    [Theory]
    [MemberData(nameof(EarlyExitCases))]
    public void EarlyExit_KeepsBottomLayers(int layers, double r, int[] expected) =>
        Assert.Equal(expected, LayerPlanner.Create(LayerPolicy.EarlyExit, r, layers).KeptLayers);

    public static TheoryData<int, double, int[]> SkipBottomCases => new()
    {
        { 10, 3, [7, 8, 9] },
        { 32, 4, [24, 25, 26, 27, 28, 29, 30, 31] },
        { 8, 100, [6, 7] },
        { 1, 3, [0] },
        { 4, 1, [0, 1, 2, 3] },
    };

    [Theory]
    [MemberData(nameof(SkipBottomCases))]
    public void SkipBottom_KeepsTopLayers(int layers, double r, int[] expected) =>
        Assert.Equal(expected, LayerPlanner.Create(LayerPolicy.SkipBottom, r, layers).KeptLayers);

    [Fact]
    public void Explicit_KeepsCallerListSorted_WithDerivedSpeedup()
    {
        var plan = LayerPlanner.Create(LayerPolicy.Explicit, 1, 8, explicitLayers: [5, 1, 3]);
        Assert.Equal([1, 3, 5], plan.KeptLayers);
        Assert.Equal(8.0 / 3, plan.TargetSpeedup, 12);
        Assert.Equal(LayerPolicy.Explicit, plan.Policy);
        Assert.False(plan.Runs(0));
        Assert.True(plan.Runs(5));
    }

    [Fact]
    public void Explicit_IgnoresRequestedSpeedup()
    {
        var plan = LayerPlanner.Create(LayerPolicy.Explicit, 4, 4, explicitLayers: [0, 1, 2, 3]);
        Assert.True(plan.IsFullDepth);
        Assert.Equal(1.0, plan.TargetSpeedup);
    }

    // Scores for layers 0..7: middle layers ranked 6 (0.7), 2 and 4 tied (0.5; 2 wins), 3, 7, 1, 5.
    private static readonly double[] Scores8 = [0.9, 0.1, 0.5, 0.3, 0.5, 0.05, 0.7, 0.2];

    public static TheoryData<double, int[]> CalibratedCases => new()
    {
        { 2, [0, 2, 6, 7] },            // k=4: 6, then tie 2/4 → 2
        { 8.0 / 3, [0, 6, 7] },         // k=3
        { 4, [0, 7] },                  // k=2: first and last only
        { 1.6, [0, 2, 4, 6, 7] },       // k=5: both tied layers
        { 1, [0, 1, 2, 3, 4, 5, 6, 7] },
    };

    [Theory]
    [MemberData(nameof(CalibratedCases))]
    public void Calibrated_KeepsEndsAndMostImportant_TiesToLowerIndex(double r, int[] expected) =>
        Assert.Equal(expected, LayerPlanner.Create(LayerPolicy.Calibrated, r, 8, layerImportance: Scores8).KeptLayers);

    [Fact]
    public void Calibrated_AlwaysKeepsEndsEvenWhenTheyScoreLowest()
    {
        double[] scores = [0, 5, 4, 3, 2, 0];
        Assert.Equal([0, 1, 2, 5], LayerPlanner.Create(LayerPolicy.Calibrated, 1.5, 6, layerImportance: scores).KeptLayers);
    }

    [Fact]
    public void Calibrated_AllTied_PicksLowestIndices()
    {
        var scores = new double[10];
        Assert.Equal([0, 1, 2, 9], LayerPlanner.Create(LayerPolicy.Calibrated, 2.5, 10, layerImportance: scores).KeptLayers);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    [InlineData(32.0)]
    public void None_IsFullDepthRegardlessOfSpeedup(double r)
    {
        var plan = LayerPlanner.Create(LayerPolicy.None, r, 32);
        Assert.True(plan.IsFullDepth);
        Assert.Equal(Seq(0, 31), plan.KeptLayers);
        Assert.Equal(LayerPolicy.None, plan.Policy);
        Assert.Equal(1.0, plan.TargetSpeedup);
        Assert.Equal(LayerPlan.Full(32), plan);
    }

    [Fact]
    public void Random_SmallCases()
    {
        // Fully determined cases.
        Assert.Equal([0, 1], LayerPlanner.Create(LayerPolicy.Random, 5, 2, seed: 42).KeptLayers);
        Assert.Equal([0, 1, 2, 3, 4], LayerPlanner.Create(LayerPolicy.Random, 1, 5, seed: 42).KeptLayers);
        Assert.Equal([0], LayerPlanner.Create(LayerPolicy.Random, 1, 1, seed: 42).KeptLayers);

        var plan = LayerPlanner.Create(LayerPolicy.Random, 4, 32, seed: 7);
        Assert.Equal(8, plan.KeptCount);
        Assert.Equal(plan, LayerPlanner.Create(LayerPolicy.Random, 4, 32, seed: 7));
    }

    [Theory]
    [InlineData(32, 1.0, 32)]
    [InlineData(32, 2.0, 16)]
    [InlineData(32, 3.0, 10)]
    [InlineData(32, 5.0, 6)]
    [InlineData(32, 2.5, 12)]
    [InlineData(32, 1.5, 21)]
    [InlineData(32, 16.0, 2)]
    [InlineData(32, 100.0, 2)]
    [InlineData(3, 1.5, 2)]
    [InlineData(2, 1.0, 2)]
    [InlineData(1, 1.0, 1)]
    [InlineData(1, 50.0, 1)]
    [InlineData(10, 10.0 / 3, 3)]  // 10 / (10/3) must floor to 3, not 2
    [InlineData(30, 30.0 / 7, 7)]
    public void KeptLayerCount_IsFloorOfLOverR_AtLeastTwo(int layers, double r, int expected) =>
        Assert.Equal(expected, LayerPlanner.KeptLayerCount(layers, r));
}
