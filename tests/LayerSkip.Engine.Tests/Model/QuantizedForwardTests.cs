using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tests.Reference;
using static TorchSharp.torch;
using static LayerSkip.Engine.Tests.Model.ForwardParityTests;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// A model quantized at load against the naive reference decoder run on the dequantized weights the model reports:
/// prefill (libtorch on the weights dequantized into scratch) must match it to float precision, and decoding (the integer
/// kernels, which also round activations to int8) to within that rounding.
/// </summary>
public class QuantizedForwardTests
{
    private static readonly int[] Tokens = [1, 17, 42, 5, 88, 63, 9, 30, 71, 2, 54];

    /// <summary>
    /// Formats: int8, int4 (groups of 64), int4 in groups of 32, int4 layers with an int8 LM head (tied in Qwen2), and
    /// int4 fitted on calibration windows (-cal: the GPTQ-style fit).
    /// </summary>
    public static TheoryData<string, bool> Cases => new()
    {
        { "int8", false }, { "int4", false }, { "int8", true }, { "int4", true }, { "int4-g32", false }, { "int4-h8", false }, { "int4-h8", true },
        { "int4-cal", false }, { "int4-cal", true }, { "int4-g32-h8-cal", true },
    };

    private static readonly int[][] CalibrationWindows = [[1, 3, 77, 12, 40, 95, 6, 21], [1, 64, 8, 33, 2, 19]];

    [Theory, MemberData(nameof(Cases))]
    public void PrefillAndDecodeMatchTheReferenceOnDequantizedWeights(string format, bool qwen2TiedWithBias)
    {
        var config = qwen2TiedWithBias
            ? TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen2, tied: true, hidden: 128, heads: 4, kvHeads: 2)
            : TinyCheckpoint.LlamaConfig(hidden: 128, heads: 4, kvHeads: 2);
        using var ckpt = TinyCheckpoint.Create(config, seed: 5);
        var quantization = WeightQuantization.Parse(format.Split('-')[0], format.Contains("-g32") ? 32 : 64)
            .WithHead(format.Contains("-h8") ? "int8" : null);
        var calibrated = format.EndsWith("-cal");
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, quantization: quantization,
            calibrationWindows: calibrated ? CalibrationWindows : null);
        Assert.Equal(quantization.Format, model.Quantization.Format);
        // The LM head is stored in its own format: an int8 head reads a byte per weight plus a scale per row.
        Assert.Equal(format.Contains("-h8") || format == "int8" ? WeightFormat.Int8 : WeightFormat.Int4, model.Quantization.Head);
        if (calibrated)
        {
            // Calibration really changed the fit (of the down projection, whose plain fit no norm weighs).
            using var plain = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, quantization: quantization);
            using var a = plain.DequantizedWeight(0, ProjectionKind.Down);
            using var b = model.DequantizedWeight(0, ProjectionKind.Down);
            Assert.NotEqual(a.data<float>().ToArray(), b.data<float>().ToArray()); // the calibrated fit differs
        }
        if (model.Quantization.Head == WeightFormat.Int8)
            Assert.Equal((long)config.VocabSize * ((config.HiddenSize + 63) / 64 * 64) + config.VocabSize * 4L, model.StreamedHeadBytes);
        var dequantized = DequantizedWeights(model, ckpt);
        // The weights really changed: quantization is not a no-op.
        Assert.NotEqual(ckpt.Weights["model.layers.0.mlp.down_proj.weight"], dequantized["model.layers.0.mlp.down_proj.weight"]);
        var expected = new ReferenceDecoder(config, dequantized).Logits(Tokens);

        using var scope = NewDisposeScope();
        using var prefillCache = model.CreateCache(1, 16);
        model.FusedDecode = false; // this short prompt would otherwise go through the kernels too
        AssertClose(expected, Rows(model.Forward(Ids(Tokens), prefillCache, lastPositionOnly: false), 0));
        model.FusedDecode = true;

        using var cache = model.CreateCache(1, 16);
        var decoded = new List<double[]>();
        decoded.AddRange(Rows(model.Forward(Ids(Tokens[..5]), cache, lastPositionOnly: false), 0));
        foreach (var t in Tokens[5..]) decoded.AddRange(Rows(model.Forward(Ids([t]), cache), 0));
        Assert.Equal(1 + Tokens.Length - 5, model.FusedSteps); // the five-token prompt and each decoded token ran fused
        for (var t = 5; t < Tokens.Length; t++)
        {
            var scale = expected[t].Max(Math.Abs);
            var worst = expected[t].Zip(decoded[t], (e, a) => Math.Abs(e - a)).Max();
            // The kernels also round each activation block to int8 (step amax/127) in every projection of every layer,
            // and the rounding errors compound along the sequence through the cache: a few percent of the largest logit
            // at the first decoded position, up to about a tenth later on this random model; a wrong slice, scale or
            // cache write would be off by about the whole scale.
            var allowed = (t == 5 ? 0.06 : 0.15) * scale;
            Assert.True(worst <= allowed, $"{format} decode position {t}: logits off by {worst} (scale {scale})");
        }
    }

    [Fact]
    public void BadQuantizationOptionsAreRejectedWithTheirName()
    {
        var e = Assert.Throws<ArgumentException>(() => WeightQuantization.Parse("int3"));
        Assert.Contains("quantize", e.Message);
        Assert.Throws<ArgumentException>(() => WeightQuantization.Parse("int4", 96));
        Assert.Contains("quantize-head", Assert.Throws<ArgumentException>(() => WeightQuantization.Parse("int4").WithHead("int2")).Message);
        // An LM head format alone would quantize nothing else; it needs quantized layers.
        Assert.Contains("layers", Assert.Throws<ArgumentException>(() => WeightQuantization.Parse("none").WithHead("int8")).Message);
        Assert.Equal(WeightFormat.Int4, WeightQuantization.Parse("int4").WithHead("same").Head);
        Assert.Equal("int4 (group 128), LM head int8", WeightQuantization.Parse("int4").WithHead("int8").ToString());
    }

    /// <summary>The model's weights as it computes with them (dequantized) under the checkpoint's tensor names.</summary>
    private static Dictionary<string, float[]> DequantizedWeights(DecoderModel model, TinyCheckpoint ckpt)
    {
        var c = model.Config;
        int q = c.NumHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        static float[] V(Tensor t) => t.contiguous().data<float>().ToArray();
        using var head = model.DequantizedWeight(-1, ProjectionKind.LmHead);
        var w = new Dictionary<string, float[]>(ckpt.Weights)
        {
            // Tied: the quantized LM head is the embedding table too; untied: the table stays float.
            ["model.embed_tokens.weight"] = c.TieWordEmbeddings ? V(head) : V(model.Weights.Embedding),
        };
        if (!c.TieWordEmbeddings) w["lm_head.weight"] = V(head);
        for (var l = 0; l < c.NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            using var qkv = model.DequantizedWeight(l, ProjectionKind.Qkv);
            using var gateUp = model.DequantizedWeight(l, ProjectionKind.GateUp);
            using var output = model.DequantizedWeight(l, ProjectionKind.Output);
            using var down = model.DequantizedWeight(l, ProjectionKind.Down);
            w[p + "self_attn.q_proj.weight"] = V(qkv.narrow(0, 0, q));
            w[p + "self_attn.k_proj.weight"] = V(qkv.narrow(0, q, kv));
            w[p + "self_attn.v_proj.weight"] = V(qkv.narrow(0, q + kv, kv));
            w[p + "self_attn.o_proj.weight"] = V(output);
            w[p + "mlp.gate_proj.weight"] = V(gateUp.narrow(0, 0, i));
            w[p + "mlp.up_proj.weight"] = V(gateUp.narrow(0, i, i));
            w[p + "mlp.down_proj.weight"] = V(down);
        }
        return w;
    }
}
