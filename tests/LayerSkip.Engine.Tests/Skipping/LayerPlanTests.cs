using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Tests.Skipping;

public class LayerPlanTests
{
    [Fact]
    public void Full_RunsEveryLayer()
    {
        var plan = LayerPlan.Full(4);
        Assert.Equal(LayerPolicy.None, plan.Policy);
        Assert.Equal(1.0, plan.TargetSpeedup);
        Assert.Equal(4, plan.LayerCount);
        Assert.Equal([0, 1, 2, 3], plan.KeptLayers);
        Assert.True(plan.IsFullDepth);
        Assert.Equal(1.0, plan.ComputeFraction);
        Assert.All(Enumerable.Range(0, 4), l => Assert.True(plan.Runs(l)));
    }

    [Fact]
    public void Runs_IsFalseForSkippedAndOutOfRangeLayers()
    {
        var plan = LayerPlanner.Create(LayerPolicy.Unified, 4, 32);
        Assert.True(plan.Runs(0));
        Assert.True(plan.Runs(4));
        Assert.False(plan.Runs(5));
        Assert.True(plan.Runs(31));
        Assert.False(plan.Runs(-1));
        Assert.False(plan.Runs(32));
        Assert.False(plan.IsFullDepth);
        Assert.Equal(8.0 / 32, plan.ComputeFraction);
    }

    [Fact]
    public void Equality_IgnoresPolicyAndSpeedup_ComparesLayers()
    {
        // L=10, r=3: Unified and UnifiedEven both keep 0,5,9; Explicit with the same list too.
        var unified = LayerPlanner.Create(LayerPolicy.Unified, 3, 10);
        var even = LayerPlanner.Create(LayerPolicy.UnifiedEven, 3, 10);
        var expl = LayerPlanner.Create(LayerPolicy.Explicit, 1, 10, explicitLayers: [9, 0, 5]);
        Assert.Equal(unified, even);
        Assert.Equal(unified, expl);
        Assert.True(unified == even);
        Assert.False(unified != expl);
        Assert.Equal(unified.GetHashCode(), even.GetHashCode());
        Assert.Equal(unified.GetHashCode(), expl.GetHashCode());

        Assert.NotEqual(unified, LayerPlanner.Create(LayerPolicy.EarlyExit, 3, 10));
        // Same indices, different depth: different plans.
        Assert.NotEqual(
            LayerPlanner.Create(LayerPolicy.Explicit, 1, 10, explicitLayers: [0, 1]),
            LayerPlanner.Create(LayerPolicy.Explicit, 1, 11, explicitLayers: [0, 1]));
        Assert.NotEqual(LayerPlan.Full(3), LayerPlan.Full(4));
        Assert.False(unified.Equals(null));
        Assert.False(unified == null);
        Assert.True((LayerPlan?)null == null);
    }

    [Fact]
    public void Plans_GroupByLayers()
    {
        var plans = new[]
        {
            LayerPlanner.Create(LayerPolicy.Unified, 3, 10),
            LayerPlanner.Create(LayerPolicy.UnifiedEven, 3, 10),
            LayerPlanner.Create(LayerPolicy.None, 1, 10),
            LayerPlan.Full(10),
            LayerPlanner.Create(LayerPolicy.Unified, 1, 10),
            LayerPlanner.Create(LayerPolicy.EarlyExit, 3, 10),
        };
        Assert.Equal(3, plans.GroupBy(p => p).Count());
        Assert.Equal(3, new HashSet<LayerPlan>(plans).Count);
    }

    [Fact]
    public void KeptLayers_CannotBeMutatedThroughTheInterface()
    {
        var source = new[] { 3, 1 };
        var plan = new LayerPlan(LayerPolicy.Explicit, 2, 4, source);
        source[0] = 0;
        Assert.Equal([1, 3], plan.KeptLayers);
        Assert.Throws<NotSupportedException>(() => ((IList<int>)plan.KeptLayers)[0] = 2);
        Assert.False(plan.Runs(0));
    }

    [Fact]
    public void ToString_DescribesPolicySpeedupAndLayers()
    {
        Assert.Equal("unified r=2 kept 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,31 (16/32 layers)",
            LayerPlanner.Create(LayerPolicy.Unified, 2, 32).ToString());
        Assert.Equal("unifiedeven r=2.5 kept 0,4,7,11 (4/12 layers)",
            LayerPlanner.Create(LayerPolicy.UnifiedEven, 2.5, 12).ToString());
        Assert.Equal("none r=1 kept 0,1,2 (3/3 layers)", LayerPlan.Full(3).ToString());
        Assert.StartsWith("explicit r=2.667 kept 1,3,5", LayerPlanner.Create(LayerPolicy.Explicit, 1, 8, explicitLayers: [1, 3, 5]).ToString());
    }

    [Fact]
    public void Constructor_ValidatesItsArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerPlan(LayerPolicy.Explicit, 1, 0, [0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerPlan(LayerPolicy.Explicit, 0.5, 4, [0]));
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => new LayerPlan(LayerPolicy.Explicit, 1, 4, [])).Message);
        Assert.Contains("out of range", Assert.Throws<ArgumentException>(() => new LayerPlan(LayerPolicy.Explicit, 1, 4, [4])).Message);
        Assert.Contains("more than once", Assert.Throws<ArgumentException>(() => new LayerPlan(LayerPolicy.Explicit, 1, 4, [1, 1])).Message);
        Assert.Throws<ArgumentNullException>(() => new LayerPlan(LayerPolicy.Explicit, 1, 4, null!));
    }
}
