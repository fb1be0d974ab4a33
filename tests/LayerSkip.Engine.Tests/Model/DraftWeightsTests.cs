using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tests.Reference;
using static TorchSharp.torch;
using static LayerSkip.Engine.Tests.Model.ForwardParityTests;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// Low-precision draft copies beside a float model: a draft step must compute exactly what a model quantized at load
/// to that precision computes when decoding, while the float model's own passes stay bit-for-bit what they were.
/// </summary>
public class DraftWeightsTests
{
    private static readonly int[] Tokens = [1, 17, 42, 5, 88, 63, 9, 30];

    public static TheoryData<string, bool> Cases => new() { { "int8", false }, { "int4", false }, { "int4", true } };

    [Theory, MemberData(nameof(Cases))]
    public void DraftStepsEqualTheQuantizedModelsDecodeStepsAndLeaveTheFloatModelAlone(string format, bool skipLayers)
    {
        var config = TinyCheckpoint.LlamaConfig(layers: 4, hidden: 128, heads: 4, kvHeads: 2);
        using var ckpt = TinyCheckpoint.Create(config, seed: 8);
        var precision = WeightQuantization.Parse(format).Format;
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var quantized = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, quantization: WeightQuantization.Parse(format));
        var plan = skipLayers ? new LayerPlan(LayerPolicy.Explicit, 2, 4, [0, 2]) : null;
        using var scope = NewDisposeScope();

        var before = FullLogits(model);
        Assert.Throws<InvalidOperationException>(() => model.DraftStep(Ids([1]), model.CreateCache(1, 4), plan, precision));
        var bytes = model.PrepareDraftWeights(precision);
        Assert.Equal(bytes, model.DraftWeightBytes);
        Assert.Equal(bytes, model.PrepareDraftWeights(precision)); // made once
        Assert.Equal(quantized.StreamedLayerBytes + quantized.StreamedHeadBytes, bytes);
        Assert.Equal(0, model.PrepareDraftWeights(WeightFormat.None));
        // The float model's own passes (prefill and decode) are unchanged, bit for bit.
        Assert.Equal(before, FullLogits(model));

        // One token at a time through both: the draft's kernels and the quantized model's decode kernels see the same
        // activations and the same cache, so they must agree exactly.
        using var draftCache = model.CreateCache(1, 16);
        using var quantizedCache = quantized.CreateCache(1, 16);
        using var floatCache = model.CreateCache(1, 16);
        foreach (var t in Tokens)
        {
            var draft = Rows(model.DraftStep(Ids([t]), draftCache, plan, precision), 0);
            Assert.Equal(Rows(quantized.Forward(Ids([t]), quantizedCache, plan), 0), draft);
            // The draft really ran the quantized copy: the float model's own step differs.
            Assert.NotEqual(Rows(model.Forward(Ids([t]), floatCache, plan), 0), draft);
        }
        Assert.True(model.DraftStreamedBytes(plan, precision) < model.DraftStreamedBytes(plan, WeightFormat.None));
    }

    [Fact]
    public void ADraftAtTheModelsOwnPrecisionNeedsNoCopy()
    {
        var config = TinyCheckpoint.LlamaConfig(layers: 2, hidden: 128, heads: 4, kvHeads: 2);
        using var ckpt = TinyCheckpoint.Create(config, seed: 2);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, quantization: WeightQuantization.Parse("int8"));
        Assert.Equal(0, model.PrepareDraftWeights(WeightFormat.Int8));
        Assert.Equal(0, model.DraftWeightBytes);
        Assert.True(model.PrepareDraftWeights(WeightFormat.Int4) > 0); // an int4 draft of an int8 model
        Assert.Equal(model.StreamedLayerBytes + model.StreamedHeadBytes, model.DraftStreamedBytes(null, WeightFormat.Int8));
    }

    private static List<double[]> FullLogits(DecoderModel model)
    {
        using var cache = model.CreateCache(1, 16);
        var rows = Rows(model.Forward(Ids(Tokens[..5]), cache, lastPositionOnly: false), 0);
        foreach (var t in Tokens[5..]) rows.AddRange(Rows(model.Forward(Ids([t]), cache), 0));
        return rows;
    }
}
