using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Tests.Skipping;

public class LayerPlannerValidationTests
{
    [Theory]
    [InlineData(0.99, "0.99")]
    [InlineData(0.0, "0")]
    [InlineData(-2.0, "-2")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void BadSpeedup_Throws_NamingParameterAndValue(double r, string shown)
    {
        foreach (var policy in Enum.GetValues<LayerPolicy>())
        {
            var ex = Assert.Throws<ArgumentOutOfRangeException>(() =>
                LayerPlanner.Create(policy, r, 32, explicitLayers: [0], layerImportance: new double[32]));
            Assert.Equal("speedup", ex.ParamName);
            Assert.Contains(shown, ex.Message);
            Assert.Contains("≥ 1", ex.Message);
        }
        var kex = Assert.Throws<ArgumentOutOfRangeException>(() => LayerPlanner.KeptLayerCount(32, r));
        Assert.Equal("speedup", kex.ParamName);
        Assert.Contains(shown, kex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void BadLayerCount_Throws(int layers)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => LayerPlanner.Create(LayerPolicy.Unified, 2, layers));
        Assert.Equal("layerCount", ex.ParamName);
        Assert.Contains($"got {layers}", ex.Message);
        Assert.Equal("layerCount", Assert.Throws<ArgumentOutOfRangeException>(() => LayerPlanner.KeptLayerCount(layers, 2)).ParamName);
        Assert.Equal("layerCount", Assert.Throws<ArgumentOutOfRangeException>(() => LayerPlan.Full(layers)).ParamName);
        Assert.Equal("layerCount", Assert.Throws<ArgumentOutOfRangeException>(() => LayerPlanner.Create(LayerPolicy.None, 1, layers)).ParamName);
    }

    [Fact]
    public void Explicit_NullOrEmptyList_Throws()
    {
        var nullEx = Assert.Throws<ArgumentException>(() => LayerPlanner.Create(LayerPolicy.Explicit, 1, 8));
        Assert.Equal("explicitLayers", nullEx.ParamName);
        Assert.Contains("non-empty list", nullEx.Message);

        var emptyEx = Assert.Throws<ArgumentException>(() => LayerPlanner.Create(LayerPolicy.Explicit, 1, 8, explicitLayers: []));
        Assert.Equal("explicitLayers", emptyEx.ParamName);
        Assert.Contains("non-empty list", emptyEx.Message);
    }

    [Fact]
    public void Explicit_Duplicate_Throws_NamingTheIndex()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            LayerPlanner.Create(LayerPolicy.Explicit, 1, 8, explicitLayers: [1, 5, 3, 5]));
        Assert.Equal("explicitLayers", ex.ParamName);
        Assert.Contains("Layer index 5 (entry 3) appears more than once", ex.Message);
    }

    [Theory]
    [InlineData(8, 1)]
    [InlineData(-1, 1)]
    [InlineData(100, 1)]
    public void Explicit_OutOfRange_Throws_NamingTheIndex(int bad, int position)
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            LayerPlanner.Create(LayerPolicy.Explicit, 1, 8, explicitLayers: [0, bad, 7]));
        Assert.Equal("explicitLayers", ex.ParamName);
        Assert.Contains($"Layer index {bad} (entry {position}) is out of range", ex.Message);
        Assert.Contains("0..7", ex.Message);
    }

    [Fact]
    public void Calibrated_WithoutScores_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => LayerPlanner.Create(LayerPolicy.Calibrated, 2, 8));
        Assert.Equal("layerImportance", ex.ParamName);
        Assert.Contains("importance scores", ex.Message);

        var empty = Assert.Throws<ArgumentException>(() => LayerPlanner.Create(LayerPolicy.Calibrated, 2, 8, layerImportance: []));
        Assert.Equal("layerImportance", empty.ParamName);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(9)]
    public void Calibrated_WrongScoreCount_Throws(int count)
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            LayerPlanner.Create(LayerPolicy.Calibrated, 2, 8, layerImportance: new double[count]));
        Assert.Equal("layerImportance", ex.ParamName);
        Assert.Contains($"got {count} scores for 8 layers", ex.Message);
    }

    [Fact]
    public void Calibrated_NonFiniteScore_Throws_NamingTheLayer()
    {
        var scores = new double[8];
        scores[3] = double.NaN;
        var ex = Assert.Throws<ArgumentException>(() =>
            LayerPlanner.Create(LayerPolicy.Calibrated, 2, 8, layerImportance: scores));
        Assert.Contains("layer 3 is NaN", ex.Message);
    }

    [Fact]
    public void UnknownPolicyValue_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => LayerPlanner.Create((LayerPolicy)999, 2, 8));
        Assert.Equal("policy", ex.ParamName);
        Assert.Contains("999", ex.Message);
    }

    [Fact]
    public void OtherPoliciesIgnoreExtraArguments()
    {
        var plan = LayerPlanner.Create(LayerPolicy.Unified, 3, 10, explicitLayers: [1], layerImportance: [1.0]);
        Assert.Equal([0, 5, 9], plan.KeptLayers);
    }
}

public class ParsePolicyTests
{
    [Theory]
    [InlineData("unified", LayerPolicy.Unified)]
    [InlineData("UNIFIED", LayerPolicy.Unified)]
    [InlineData("Unified", LayerPolicy.Unified)]
    [InlineData("unifiedeven", LayerPolicy.UnifiedEven)]
    [InlineData("UnifiedEven", LayerPolicy.UnifiedEven)]
    [InlineData("earlyexit", LayerPolicy.EarlyExit)]
    [InlineData("EarlyExit", LayerPolicy.EarlyExit)]
    [InlineData("skipbottom", LayerPolicy.SkipBottom)]
    [InlineData("random", LayerPolicy.Random)]
    [InlineData("Random", LayerPolicy.Random)]
    [InlineData("explicit", LayerPolicy.Explicit)]
    [InlineData("calibrated", LayerPolicy.Calibrated)]
    [InlineData("router", LayerPolicy.Router)]
    [InlineData("none", LayerPolicy.None)]
    [InlineData(" unified ", LayerPolicy.Unified)]
    public void ParsesMemberNamesInAnyCase(string name, LayerPolicy expected) =>
        Assert.Equal(expected, LayerPlanner.ParsePolicy(name));

    [Theory]
    [InlineData("")]
    [InlineData("uniform")]
    [InlineData("early")]
    [InlineData("3")]
    // One spelling per name: the old aliases are rejected.
    [InlineData("unified-even")]
    [InlineData("unified_even")]
    [InlineData("early-exit")]
    [InlineData("skip-bottom")]
    [InlineData("full")]
    public void UnknownName_Throws_ListingValidNames(string name)
    {
        var ex = Assert.Throws<ArgumentException>(() => LayerPlanner.ParsePolicy(name));
        Assert.Equal("name", ex.ParamName);
        Assert.Contains($"'{name}'", ex.Message);
        foreach (var valid in LayerPlanner.PolicyNames) Assert.Contains(valid, ex.Message);
    }

    [Fact]
    public void Null_Throws() => Assert.Throws<ArgumentNullException>(() => LayerPlanner.ParsePolicy(null!));

    [Fact]
    public void PolicyName_RoundTripsThroughParse()
    {
        foreach (var policy in Enum.GetValues<LayerPolicy>())
            Assert.Equal(policy, LayerPlanner.ParsePolicy(LayerPlanner.PolicyName(policy)));
        Assert.Equal(Enum.GetValues<LayerPolicy>().Length, LayerPlanner.PolicyNames.Count);
        Assert.Equal("42", LayerPlanner.PolicyName((LayerPolicy)42));
    }
}
