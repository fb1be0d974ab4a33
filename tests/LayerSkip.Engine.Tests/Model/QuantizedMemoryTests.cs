using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Model.Kernels;
using LayerSkip.Engine.Tests.Reference;
using LayerSkip.Engine.Training;
using static TorchSharp.torch;
using static LayerSkip.Engine.Tests.Model.ForwardParityTests;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// A quantized model frees its float matrices: the dequantized values it expands for prefill and for tied-embedding
/// lookups equal those the quantizer produced, it computes the same logits as a model that kept the dequantized float
/// weights, the freed bytes are really gone, and code that needs float weights says so instead of reading garbage.
/// </summary>
[Collection(KernelIsaSwitches.Name)]
public unsafe class QuantizedMemoryTests
{
    private static readonly int[] Tokens = [1, 17, 42, 5, 88, 63, 9, 30, 71, 2, 54];

    public static TheoryData<string, int, int, bool> KernelCases => new()
    {
        // format, out, in, scalar only
        { "int8", 37, 95, false }, { "int8", 130, 1000, false }, { "int8", 5, 64, true },
        { "int4", 37, 95, false }, { "int4", 130, 1000, false }, { "int4", 64, 2048, false }, { "int4", 37, 300, true },
        { "int4-g32", 37, 95, false }, { "int4-g32", 130, 1000, false }, { "int4-g32", 37, 300, true },
    };

    [Theory, MemberData(nameof(KernelCases))]
    public void DequantizedRowsEqualTheValuesTheQuantizerProduced(string format, int outF, int inF, bool scalar)
    {
        using var source = randn([outF, inF], ScalarType.Float32, generator: new Generator(7)) * 0.05;
        var values = source.data<float>().ToArray();
        IMatVec kernel;
        fixed (float* p = values)
            kernel = format == "int8" ? Int8MatVec.Quantize(p, outF, inF) : Int4MatVec.Quantize(p, outF, inF, format == "int4-g32" ? 32 : 128);
        using var _ = kernel;
        KernelIsa.ScalarOnly = scalar;
        try
        {
            using var f32 = empty([outF, inF], ScalarType.Float32);
            Dequantization.Rows((IDequantize)kernel, 0, f32, RowParallel.Shared(2));
            Assert.Equal(values, f32.data<float>().ToArray());

            // bfloat16 destinations round exactly as libtorch converts; a row range starts where it says.
            using var bf16 = empty([outF - 3, inF], ScalarType.BFloat16);
            Dequantization.Rows((IDequantize)kernel, 3, bf16, RowParallel.Shared(2));
            using var expected = tensor(values, [outF, inF]).narrow(0, 3, outF - 3).to(ScalarType.BFloat16);
            Assert.Equal(Bits(expected), Bits(bf16));
        }
        finally { KernelIsa.ScalarOnly = false; }
    }

    [Fact]
    public void Bfloat16RoundingMatchesLibtorchOnTiesAndSpecialValues()
    {
        float[] special = [0f, -0f, 1f, 1.00390625f, 1.01171875f, -2.00390625f, float.MaxValue, float.Epsilon, float.PositiveInfinity,
            float.NegativeInfinity, float.NaN, 3.14159f, -1e-30f, 65504f, 1.0039063f];
        var values = special.Concat(Enumerable.Range(0, 1000).Select(i => BitConverter.Int32BitsToSingle(0x3F800000 + i * 4099 + (i % 2 << 15))))
            .ToArray();
        var ours = new ushort[values.Length];
        fixed (float* s = values) fixed (ushort* d = ours) Dequantization.ToBfloat16(s, d, values.Length);
        using var torchBf16 = tensor(values).to(ScalarType.BFloat16);
        var expected = Bits(torchBf16);
        for (var i = 0; i < values.Length; i++)
            if (!float.IsNaN(values[i])) Assert.True(expected[i] == ours[i], $"value {values[i]:R}: ours {ours[i]:X4}, libtorch {expected[i]:X4}");
            else Assert.True((ours[i] & 0x7F80) == 0x7F80 && (ours[i] & 0x7F) != 0, "NaN stays NaN");
    }

    public static TheoryData<string, bool, bool> ModelCases => new()
    {
        // format, bfloat16, qwen2 (tied, q/k/v bias) with a vocabulary the scratch expands in several chunks
        { "int8", false, false }, { "int4", false, false }, { "int8", false, true }, { "int4", true, true }, { "int8", true, false },
    };

    [Theory, MemberData(nameof(ModelCases))]
    public void FreedModelComputesWhatTheModelWithDequantizedFloatWeightsComputes(string format, bool bf16, bool qwen2Tied)
    {
        var config = qwen2Tied
            ? TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen2, tied: true, hidden: 128, heads: 4, kvHeads: 2, vocab: 1200)
            : TinyCheckpoint.LlamaConfig(hidden: 128, heads: 4, kvHeads: 2);
        using var ckpt = TinyCheckpoint.Create(config, seed: 9);
        var quantization = WeightQuantization.Parse(format, 64);
        var dtype = bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        using var kept = Build(ckpt, dtype, quantization, keep: true);
        using var freed = Build(ckpt, dtype, quantization, keep: false);
        Assert.True(kept.Weights.Layers[0].HoldsProjections);
        Assert.False(freed.Weights.Layers[0].HoldsProjections);

        using var scope = NewDisposeScope();
        // Prefill (libtorch on the scratch) and decode (the kernels, embedding rows dequantized on lookup), twice over,
        // so the scratch's reuse by every projection in turn is exercised.
        for (var pass = 0; pass < 2; pass++)
        {
            AssertSame(Prefill(kept, Tokens), Prefill(freed, Tokens), bf16);
            AssertSame(Decode(kept), Decode(freed), bf16);
        }
        Assert.True(freed.ScratchBytes > 0);
        if (qwen2Tied) Assert.True(config.VocabSize * config.HiddenSize > freed.ScratchBytes / (bf16 ? 2 : 4), "the LM head needs several chunks");
    }

    [Fact]
    public void TiedEmbeddingLookupEqualsTheQuantizedRows()
    {
        var config = TinyCheckpoint.LlamaConfig(tied: true, hidden: 128, heads: 4, kvHeads: 2);
        using var ckpt = TinyCheckpoint.Create(config, seed: 4);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, quantization: WeightQuantization.Parse("int4", 64));
        // An independent quantization of the checkpoint's table gives the values every lookup must return. As the LM
        // head, its int4 fit weighs each column by the final norm's weight squared (plus a floor of 1 % of their mean).
        var table = (float[])ckpt.Weights["model.embed_tokens.weight"].Clone();
        var g = ckpt.Weights["model.norm.weight"];
        var floor = 0.01f * g.Average(v => v * v);
        var importance = g.Select(v => v * v + floor).ToArray();
        fixed (float* p = table)
        fixed (float* c = importance)
            Int4MatVec.Quantize(p, config.VocabSize, config.HiddenSize, 64, c).Dispose();
        long[] ids = [0, 95, 17, 17, 3];
        using var scope = NewDisposeScope();
        var rows = model.Embed(tensor(ids)).data<float>().ToArray();
        for (var i = 0; i < ids.Length; i++)
            Assert.Equal(table.AsSpan((int)ids[i] * config.HiddenSize, config.HiddenSize).ToArray(), rows.AsSpan(i * config.HiddenSize, config.HiddenSize).ToArray());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.Embed(tensor(new long[] { 96 })));
        Assert.Contains("96", e.Message);
    }

    [Theory]
    [InlineData("int8", true)]
    [InlineData("int4", false)]
    public void FreedFloatWeightsAreGoneAndReadersSayWhy(string format, bool tied)
    {
        var config = TinyCheckpoint.LlamaConfig(tied: tied, hidden: 128, heads: 4, kvHeads: 2);
        using var ckpt = TinyCheckpoint.Create(config, seed: 2);
        using var full = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, quantization: WeightQuantization.Parse(format, 64));

        long h = config.HiddenSize, q = config.NumHeads * config.HeadDim, kv = config.NumKeyValueHeads * config.HeadDim, i = config.IntermediateSize;
        long[][] matrices = [.. Enumerable.Range(0, config.NumLayers).SelectMany(_ => new[] { new[] { q + 2 * kv, h }, [h, q], [2 * i, h], [h, i] }),
            [config.VocabSize, h]];
        var floatBytes = 4 * (config.NumLayers * 2 * h + h + (tied ? 0 : config.VocabSize * h) + matrices.Sum(m => m[0] * m[1]));
        Assert.Equal(floatBytes, full.WeightBytes);
        // What stays in float: the norms, and an untied embedding table.
        Assert.Equal(4 * (config.NumLayers * 2 * h + h + (tied ? 0 : config.VocabSize * h)), model.Weights.Bytes);
        static long Pad(long n, long to) => (n + to - 1) / to * to;
        var packed = matrices.Sum(m => format == "int8" ? m[0] * Pad(m[1], 64) + 4 * m[0] : m[0] * Pad(m[1], 64) / 2 + 2 * 4 * m[0] * (Pad(m[1], 64) / 64));
        Assert.Equal(model.Weights.Bytes + packed, model.WeightBytes);

        var layer = Assert.Throws<InvalidOperationException>(() => model.Weights.Layers[1].GateUp);
        Assert.Contains("quantized", layer.Message);
        Assert.Throws<InvalidOperationException>(() => model.Weights.LmHead);
        if (tied) Assert.Contains("quantized", Assert.Throws<InvalidOperationException>(() => model.Weights.Embedding).Message);
        else Assert.Equal(ckpt.Weights["model.embed_tokens.weight"], model.Weights.Embedding.data<float>().ToArray());
        var save = Assert.Throws<InvalidOperationException>(() => HfCheckpointWriter.Entries(model).ToList());
        Assert.Contains("quantize", save.Message);
    }

    [Fact]
    public void GradientsThroughAFreedProjectionUseAWeightOfTheirOwn()
    {
        using var scratch = new DequantizationScratch(ScalarType.Float32, 64 * 128);
        using var w1 = randn([64, 128], generator: new Generator(1)) * 0.05;
        using var w2 = randn([64, 128], generator: new Generator(2)) * 0.05;
        var quantization = WeightQuantization.Parse("int8");
        using var a = Projection.Create(w1, quantization, null, scratch);
        using var b = Projection.Create(w2, quantization, null, scratch);
        using var scope = NewDisposeScope();
        var x = randn([6, 128], generator: new Generator(3)).requires_grad_(true);
        Assert.True(is_grad_enabled());
        var y = a.Apply(x);
        Assert.True(y.requires_grad, "y carries a gradient");
        using (no_grad()) b.Apply(randn([6, 128])); // overwrites the scratch before the backward pass
        var grad = autograd.grad([y.sum()], [x])[0];
        var expected = a.Dequantize(0, 64).sum([0L]).expand(6, 128);
        var worst = (grad - expected).abs().max().item<float>();
        Assert.True(worst < 1e-5, $"the gradient must use a's dequantized weight (off by {worst})");
        Assert.False(a.HoldsFloatWeight);
        Assert.Contains("freed", Assert.Throws<InvalidOperationException>(() => a.Weight).Message);
    }

    /// <summary>A bfloat16 tensor's bit patterns (widening to float32 is exact).</summary>
    private static ushort[] Bits(Tensor bf16)
    {
        using var f = bf16.to(ScalarType.Float32).contiguous();
        return f.data<float>().ToArray().Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray();
    }

    [Theory]
    [InlineData("int8", ScalarType.Float32)]
    [InlineData("int4", ScalarType.BFloat16)]
    public void RowRangesOfAFreedProjectionMatchTheKeptWeightInScratchSizedChunks(string format, ScalarType dtype)
    {
        // A scratch of 16 rows makes a 70-row weight go through it in chunks; the range starts mid-chunk.
        using var scratch = new DequantizationScratch(dtype, 16 * 128);
        using var source = randn([70, 128], generator: new Generator(5)) * 0.05;
        using var keptWeight = source.to(dtype);
        using var freedWeight = source.to(dtype);
        using var bias = randn([70], generator: new Generator(6)).to(dtype);
        var quantization = WeightQuantization.Parse(format, 64);
        using var kept = Projection.Create(keptWeight, quantization);
        using var freed = Projection.Create(freedWeight, quantization, null, scratch);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = randn([9, 128], generator: new Generator(7)).to(dtype);
        foreach (var (start, count) in new[] { (0L, 70L), (10L, 37L), (64L, 6L) })
        {
            var expected = kept.Apply(x, bias, start, count).to(ScalarType.Float32);
            var actual = freed.Apply(x, bias, start, count).to(ScalarType.Float32);
            Assert.Equal(expected.shape, actual.shape);
            var worst = (expected - actual).abs().max().item<float>();
            Assert.True(worst <= (dtype == ScalarType.BFloat16 ? 1e-2 : 1e-5), $"rows [{start}, {start + count}): off by {worst}");
        }
        // Exactly the values the kept model overwrote its float weight with.
        Assert.Equal(kept.Weight.to(ScalarType.Float32).data<float>().ToArray(), freed.Dequantize(0, 70).to(ScalarType.Float32).data<float>().ToArray());
    }

    private static DecoderModel Build(TinyCheckpoint ckpt, ScalarType dtype, WeightQuantization quantization, bool keep)
    {
        var config = ModelConfig.Load(ckpt.Folder);
        using var checkpoint = Checkpoint.Open(ckpt.Folder);
        using var _ = no_grad();
        var weights = ModelWeights.Load(checkpoint, config, dtype, CPU);
        return new DecoderModel(config, weights, dtype, CPU, 64, quantization, keepFloatWeights: keep);
    }

    private static List<double[]> Prefill(DecoderModel model, int[] tokens)
    {
        using var cache = model.CreateCache(1, 16);
        return Rows(model.Forward(Ids(tokens), cache, lastPositionOnly: false), 0);
    }

    private static List<double[]> Decode(DecoderModel model)
    {
        using var cache = model.CreateCache(1, 16);
        var rows = Rows(model.Forward(Ids(Tokens[..5]), cache), 0);
        foreach (var t in Tokens[5..]) rows.AddRange(Rows(model.Forward(Ids([t]), cache), 0));
        return rows;
    }

    /// <summary>Both models run the same values through the same operations: equal up to libtorch's blocking.</summary>
    private static void AssertSame(List<double[]> expected, List<double[]> actual, bool bf16)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var t = 0; t < expected.Count; t++)
        {
            var scale = expected[t].Max(Math.Abs);
            var worst = expected[t].Zip(actual[t], (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= (bf16 ? 1e-2 : 1e-5) * scale, $"position {t}: logits differ by {worst} (scale {scale})");
        }
    }
}
