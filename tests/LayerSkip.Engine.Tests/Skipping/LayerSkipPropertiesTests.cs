using System.Text.Json;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Tests.Skipping;

public class LayerSkipPropertiesTests
{
    private static Dictionary<string, object?> Props(params (string Key, object? Value)[] entries) => entries.ToDictionary(e => e.Key, e => e.Value);

    public static TheoryData<object> TwoPointFive => new()
    {
        2.5, 2.5f, 2.5m, "2.5", JsonDocument.Parse("2.5").RootElement, JsonDocument.Parse("\"2.5\"").RootElement, JsonValue.Create(2.5),
    };

    [Theory]
    [MemberData(nameof(TwoPointFive))]
    public void RatiosAreReadByValueFromAnyCarrier(object value) =>
        Assert.Equal(2.5, LayerSkipProperties.Read(Props((LayerSkipProperties.SpeedupRatio, value)))!.SpeedupRatio);

    public static TheoryData<object> Three => new()
    {
        (byte)3, (sbyte)3, (short)3, (ushort)3, 3, 3u, 3L, 3UL, 3f, 3.0, 3m, "3", JsonDocument.Parse("3").RootElement, JsonDocument.Parse("3.0").RootElement,
    };

    [Theory]
    [MemberData(nameof(Three))]
    public void WholeNumbersAreReadByValueFromAnyNumericType(object value)
    {
        var request = LayerSkipProperties.Read(Props((LayerSkipProperties.SpeedupRatio, value), (LayerSkipProperties.DraftTokens, value)))!;
        Assert.Equal(3.0, request.SpeedupRatio);
        Assert.Equal(3, request.DraftTokens);
    }

    [Fact]
    public void LayersAreReadFromArraysListsAndJson()
    {
        int[] expected = [0, 2, 4];
        foreach (var value in new object[] { new[] { 0, 2, 4 }, new List<long> { 0, 2, 4 }, new object[] { (byte)0, 2.0, 4m }, JsonDocument.Parse("[0,2,4]").RootElement, new JsonArray(0, 2, 4) })
        {
            var request = LayerSkipProperties.Read(Props((LayerSkipProperties.Layers, value)))!;
            Assert.Equal(expected, request.Layers!);
            Assert.Equal(LayerPolicy.Explicit, request.Policy); // layers without a policy mean Explicit
        }
    }

    [Fact]
    public void PolicyAndModeNamesAreMatchedCaseInsensitively()
    {
        var request = LayerSkipProperties.Read(Props((LayerSkipProperties.Policy, "EARLYEXIT"), (LayerSkipProperties.Mode, JsonDocument.Parse("\"Speculative\"").RootElement)))!;
        Assert.Equal((LayerPolicy.EarlyExit, LayerSkipMode.Speculative), (request.Policy!.Value, request.Mode!.Value));
        Assert.Equal(LayerPolicy.SkipBottom, LayerSkipProperties.Read(Props((LayerSkipProperties.Policy, LayerPolicy.SkipBottom)))!.Policy);
    }

    [Theory]
    [InlineData(LayerSkipProperties.SpeedupRatio, 0.5)]
    [InlineData(LayerSkipProperties.SpeedupRatio, double.NaN)]
    [InlineData(LayerSkipProperties.SpeedupRatio, "fast")]
    [InlineData(LayerSkipProperties.SpeedupRatio, true)]
    [InlineData(LayerSkipProperties.Policy, "unified-even")]
    [InlineData(LayerSkipProperties.Policy, 3)]
    [InlineData(LayerSkipProperties.Layers, "0,1")]
    [InlineData(LayerSkipProperties.Layers, 2.5)]
    [InlineData(LayerSkipProperties.Mode, "turbo")]
    [InlineData(LayerSkipProperties.DraftTokens, 0)]
    [InlineData(LayerSkipProperties.DraftTokens, 2.5)]
    [InlineData(LayerSkipProperties.DraftPrecision, "int3")]
    [InlineData(LayerSkipProperties.DraftPrecision, 4)]
    [InlineData(LayerSkipProperties.DraftSource, "prompt")]
    [InlineData(LayerSkipProperties.DraftSource, 1)]
    public void BadValuesNameTheirKey(string key, object value)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => LayerSkipProperties.Read(Props((key, value))));
        Assert.Equal(key, e.ParamName);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void EmptyLayerListsAndExplicitWithoutLayersAreRejected()
    {
        Assert.Equal(LayerSkipProperties.Layers, Assert.ThrowsAny<ArgumentException>(() => LayerSkipProperties.Read(Props((LayerSkipProperties.Layers, Array.Empty<int>())))).ParamName);
        Assert.Equal(LayerSkipProperties.Layers, Assert.ThrowsAny<ArgumentException>(() => LayerSkipProperties.Read(Props((LayerSkipProperties.Policy, "explicit")))).ParamName);
    }

    [Fact]
    public void NoKeysReadAsNoRequest()
    {
        Assert.Null(LayerSkipProperties.Read(null));
        Assert.Null(LayerSkipProperties.Read(Props(("temperature", 0.5), (LayerSkipProperties.SpeedupRatio, null))));
    }

    [Fact]
    public void WriteThenReadRoundTrips()
    {
        var request = new LayerSkipRequest
        {
            SpeedupRatio = 1.5, Policy = LayerPolicy.UnifiedEven, Mode = LayerSkipMode.Speculative, DraftTokens = 4, DraftPrecision = LayerSkip.Engine.Model.WeightFormat.Int4,
        };
        var props = new Dictionary<string, object?>();
        LayerSkipProperties.Write(request, props);
        Assert.Equal(("UnifiedEven", "speculative", "int4"), (props[LayerSkipProperties.Policy], props[LayerSkipProperties.Mode], props[LayerSkipProperties.DraftPrecision]));
        Assert.Equal(request, LayerSkipProperties.Read(props));

        // Through JSON (what a cache or a config file holds) too.
        var json = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(JsonSerializer.Serialize(props))!;
        Assert.Equal(request, LayerSkipProperties.Read(json.ToDictionary(p => p.Key, p => (object?)p.Value)));
    }

    [Fact]
    public void DraftSourcesRoundTripAsLowercaseNames()
    {
        foreach (var source in Enum.GetValues<DraftSource>())
        {
            var request = new LayerSkipRequest { Mode = LayerSkipMode.Speculative, DraftSource = source };
            var props = new Dictionary<string, object?>();
            LayerSkipProperties.Write(request, props);
            Assert.Equal(source.ToString().ToLowerInvariant(), props[LayerSkipProperties.DraftSource]);
            Assert.Equal(request, LayerSkipProperties.Read(props));
            var json = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(JsonSerializer.Serialize(props))!;
            Assert.Equal(request, LayerSkipProperties.Read(json.ToDictionary(p => p.Key, p => (object?)p.Value)));
        }
        Assert.Contains(LayerSkipProperties.DraftSource, LayerSkipProperties.RequestKeys);
    }

    [Theory]
    [InlineData("lookup", DraftSource.Lookup)]
    [InlineData(" LOOKUP ", DraftSource.Lookup)]
    [InlineData("Model", DraftSource.Model)]
    public void DraftSourcesReadByNameInAnyCase(string name, DraftSource expected)
    {
        Assert.Equal(expected, LayerSkipProperties.Read(Props((LayerSkipProperties.DraftSource, name)))!.DraftSource);
        Assert.Equal(expected, LayerSkipProperties.Read(Props((LayerSkipProperties.DraftSource, JsonSerializer.SerializeToElement(name))))!.DraftSource);
        Assert.Equal(expected, LayerSkipProperties.Read(Props((LayerSkipProperties.DraftSource, JsonValue.Create(name))))!.DraftSource);
        Assert.Equal(expected, LayerSkipProperties.Read(Props((LayerSkipProperties.DraftSource, expected)))!.DraftSource);
    }

    [Theory]
    [InlineData("int8", LayerSkip.Engine.Model.WeightFormat.Int8)]
    [InlineData(" INT4 ", LayerSkip.Engine.Model.WeightFormat.Int4)]
    [InlineData("None", LayerSkip.Engine.Model.WeightFormat.None)]
    public void DraftPrecisionsReadByNameInAnyCase(string name, LayerSkip.Engine.Model.WeightFormat expected)
    {
        Assert.Equal(expected, LayerSkipProperties.Read(Props((LayerSkipProperties.DraftPrecision, name)))!.DraftPrecision);
        Assert.Equal(expected, LayerSkipProperties.Read(Props((LayerSkipProperties.DraftPrecision, JsonSerializer.SerializeToElement(name))))!.DraftPrecision);
    }

    [Fact]
    public void TheRatioIsCheckedWhereverARequestIsMade()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerSkipRequest { SpeedupRatio = 0.99 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerSkipRequest { SpeedupRatio = double.PositiveInfinity });
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerSkipRequest { Policy = (LayerPolicy)42 });
        Assert.Equal(nameof(LayerSkipRequest.DraftSource), Assert.Throws<ArgumentOutOfRangeException>(() => new LayerSkipRequest { DraftSource = (DraftSource)2 }).ParamName);
    }

    [Fact]
    public void DefaultsFillOnlyWhatARequestLeavesOut()
    {
        var defaults = new LayerSkipRequest { SpeedupRatio = 2, Policy = LayerPolicy.EarlyExit, Seed = 7 };
        Assert.Equal(new LayerSkipRequest { SpeedupRatio = 3, Policy = LayerPolicy.EarlyExit, Seed = 7 }, new LayerSkipRequest { SpeedupRatio = 3 }.Over(defaults));
        var layers = new LayerSkipRequest { Layers = [0, 3] }.Over(defaults);
        Assert.Equal((LayerPolicy.Explicit, 2.0), (layers.Policy!.Value, layers.SpeedupRatio!.Value));
        Assert.False(new LayerSkipRequest { Mode = LayerSkipMode.Speculative }.ChoosesPlan);

        var lookup = new LayerSkipRequest { Mode = LayerSkipMode.Speculative, DraftSource = DraftSource.Lookup };
        Assert.Equal(DraftSource.Lookup, new LayerSkipRequest().Over(lookup).DraftSource);
        Assert.Equal(DraftSource.Model, new LayerSkipRequest { DraftSource = DraftSource.Model }.Over(lookup).DraftSource);
        Assert.False(lookup.ChoosesPlan);
    }
}
