using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Model.Kernels;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tests.Reference;
using static TorchSharp.torch;
using static LayerSkip.Engine.Tests.Model.ForwardParityTests;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// The fused decode step (raw-memory loops and kernels) against the naive reference decoder and against the libtorch
/// path of the same model, for every architecture feature, ragged batches, skipping plans and quantized weights.
/// </summary>
[Collection(KernelIsaSwitches.Name)]
public class FusedDecoderTests
{
    private static readonly int[] Tokens = [1, 17, 42, 5, 88, 63, 9, 30, 71, 2, 54];

    public static TheoryData<string, bool> Architectures => new()
    {
        { "llama-gqa", false }, { "qwen2-bias", false }, { "qwen3-qknorm", false }, { "llama3-rope-scaling", false },
        { "llama-gqa", true }, { "qwen3-qknorm", true },
    };

    private static ModelConfig ConfigFor(string name) => name switch
    {
        "llama-gqa" => TinyCheckpoint.LlamaConfig(hidden: 64, heads: 4, kvHeads: 2),
        "qwen2-bias" => TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen2, tied: true),
        "qwen3-qknorm" => TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen3, heads: 4, kvHeads: 1),
        "llama3-rope-scaling" => TinyCheckpoint.LlamaConfig(scaling: new RopeScaling("llama3", 8, 1, 4, 16)) with { RopeTheta = 500000 },
        _ => throw new ArgumentException(name),
    };

    [Theory, MemberData(nameof(Architectures))]
    public void DecodingMatchesTheReference(string arch, bool scalarOnly)
    {
        using var ckpt = TinyCheckpoint.Create(ConfigFor(arch), seed: 13);
        var expected = new ReferenceDecoder(ckpt.Config, ckpt.Weights).Logits(Tokens);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var scope = NewDisposeScope();
        using var cache = model.CreateCache(1, 2); // grows while decoding
        var actual = Rows(model.Forward(Ids(Tokens[..3]), cache, lastPositionOnly: false), 0);
        KernelIsa.ScalarOnly = scalarOnly;
        try
        {
            foreach (var t in Tokens[3..]) actual.AddRange(Rows(model.Forward(Ids([t]), cache), 0));
        }
        finally { KernelIsa.ScalarOnly = false; }
        Assert.Equal(1 + Tokens.Length - 3, model.FusedSteps); // the three-token prompt, then each token
        AssertClose(expected, actual);
    }

    [Fact]
    public void ChunksOfTokensMatchTheReferenceAtEveryPosition()
    {
        using var ckpt = TinyCheckpoint.Create(ConfigFor("qwen3-qknorm"), seed: 21);
        var expected = new ReferenceDecoder(ckpt.Config, ckpt.Weights).Logits(Tokens);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var scope = NewDisposeScope();
        using var cache = model.CreateCache(1, 2);
        var actual = new List<double[]>();
        foreach (var (start, end) in new[] { (0, 3), (3, 7), (7, Tokens.Length) }) // a prompt, then verification-sized chunks
            actual.AddRange(Rows(model.Forward(Ids(Tokens[start..end]), cache, lastPositionOnly: false), 0));
        Assert.Equal(3, model.FusedSteps);
        AssertClose(expected, actual);
    }

    [Fact]
    public void ARaggedBatchUnderASkippingPlanMatchesTheLibtorchPath()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen3, layers: 6, heads: 4, kvHeads: 2), seed: 4);
        var plan = LayerPlanner.Create(LayerPolicy.Unified, 2, 6);
        int[][] prompts = [[1, 5, 9], [1, 7, 3, 8, 20, 11, 4], [1, 60]];
        foreach (var chunk in new[] { 1, 2 })
        {
            var fused = Decode(ckpt.Folder, plan, prompts, chunk, fusedDecode: true, out var fusedSteps);
            var plain = Decode(ckpt.Folder, plan, prompts, chunk, fusedDecode: false, out var plainSteps);
            Assert.Equal(3 + 4, fusedSteps); // the three prompts fit the fused path too, then four steps
            Assert.Equal(0, plainSteps);
            Assert.Equal(plain.Count, fused.Count);
            for (var i = 0; i < fused.Count; i++) AssertClose([plain[i]], [fused[i]]);
        }
    }

    private static List<double[]> Decode(string folder, LayerPlan plan, int[][] prompts, int chunk, bool fusedDecode, out long fusedSteps)
    {
        using var model = DecoderModel.Load(folder, ScalarType.Float32, CPU);
        model.FusedDecode = fusedDecode;
        using var scope = NewDisposeScope();
        var batch = model.CreateCache(1, 4);
        model.Forward(Ids(prompts[0]), batch);
        foreach (var prompt in prompts[1..])
        {
            using var single = model.CreateCache(1, 16);
            model.Forward(Ids(prompt), single);
            batch.AppendRows(single);
        }
        batch.KeepOnly(plan);
        var logits = new List<double[]>();
        for (var step = 0; step < 4; step++)
        {
            var next = tensor(Enumerable.Range(0, prompts.Length * chunk).Select(i => (long)(30 + 7 * i + step)).ToArray(), [prompts.Length, chunk]);
            var output = model.Forward(next, batch, plan, lastPositionOnly: false);
            for (var r = 0; r < prompts.Length; r++) logits.AddRange(Rows(output, r));
        }
        batch.Dispose();
        fusedSteps = model.FusedSteps;
        return logits;
    }

    /// <remarks>
    /// Quantized models decode through the fused path too; <see cref="QuantizedForwardTests"/> checks them against the
    /// reference on their dequantized weights (the kernels' int8 rounding of activations makes two float paths differ
    /// by more than float rounding, so they are compared with the reference, not with each other).
    /// </remarks>
    [Fact]
    public void BFloat16ModelsDecodeAtLeastAsAccuratelyAsTheLibtorchPath()
    {
        var config = TinyCheckpoint.LlamaConfig(hidden: 128, heads: 4, kvHeads: 2);
        using var ckpt = TinyCheckpoint.Create(config, seed: 8, dtype: SafeTensorDType.BF16); // exact in both dtypes
        List<double[]> Run(ScalarType type, bool fusedDecode)
        {
            using var model = DecoderModel.Load(ckpt.Folder, type, CPU);
            model.FusedDecode = fusedDecode;
            using var scope = NewDisposeScope();
            using var cache = model.CreateCache(1, 16);
            var rows = Rows(model.Forward(Ids(Tokens[..4]), cache), 0);
            foreach (var t in Tokens[4..]) rows.AddRange(Rows(model.Forward(Ids([t]), cache), 0));
            Assert.Equal(fusedDecode ? 1 + Tokens.Length - 4 : 0, model.FusedSteps);
            return rows;
        }
        // Truth: the same model in float32 through libtorch. The libtorch path in the compute dtype rounds every
        // intermediate to it; the fused path keeps float32, so it must be at least as close to the truth.
        var truth = Run(ScalarType.Float32, false);
        var fused = Run(ScalarType.BFloat16, true);
        var plain = Run(ScalarType.BFloat16, false);
        for (var t = 1; t < truth.Count; t++)
        {
            var scale = truth[t].Max(Math.Abs);
            var fusedError = truth[t].Zip(fused[t], (a, b) => Math.Abs(a - b)).Max();
            var plainError = truth[t].Zip(plain[t], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(fusedError <= Math.Max(1.25 * plainError, 1e-4 * scale),
                $"step {t}: fused off by {fusedError}, libtorch path by {plainError} (scale {scale})");
        }
    }

    [Theory]
    [InlineData(false, 37, 24)]
    [InlineData(true, 37, 24)]
    [InlineData(false, 3000, 24)] // long enough to split the heads over the worker threads
    [InlineData(true, 38, 64)] // head sizes whose sums stay in registers, with lengths past whole blocks of four
    [InlineData(false, 3001, 128)]
    [InlineData(true, 5, 8)]
    public unsafe void CachedAttentionMatchesANaiveSoftmax(bool bf16, int length, int headDim)
    {
        const int kvHeads = 2, groups = 3, capacity = 3100;
        int[] lengths = [length, length / 2 + 1, length / 2 + 2]; // the last two: a chunk of two tokens of one row
        int[] cacheRows = [0, 1, 1];
        var rows = lengths.Length;
        var random = new Random(5);
        var q = Enumerable.Range(0, rows * kvHeads * groups * headDim).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var k = Enumerable.Range(0, 2 * kvHeads * capacity * headDim).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var v = Enumerable.Range(0, k.Length).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        if (bf16) { k = k.Select(Bf16).ToArray(); v = v.Select(Bf16).ToArray(); }
        var kb = k.Select(Dequantization.ToBfloat16).ToArray();
        var vb = v.Select(Dequantization.ToBfloat16).ToArray();
        var output = new float[q.Length];
        var scores = new float[rows * kvHeads * groups * length];
        using var pool = new RowParallel(2);
        fixed (float* qp = q, kp = k, vp = v, op = output, sp = scores)
        fixed (ushort* kbp = kb, vbp = vb)
        {
            var keys = bf16 ? new FloatMemory(kbp, true) : new FloatMemory(kp, false);
            var values = bf16 ? new FloatMemory(vbp, true) : new FloatMemory(vp, false);
            CachedAttention.Attend(qp, keys, values, cacheRows, lengths, kvHeads, groups, capacity, headDim, 0.2f, sp, op, pool);
        }
        for (var r = 0; r < rows; r++)
            for (var h = 0; h < kvHeads * groups; h++)
            {
                var g = h / groups;
                var logits = new double[lengths[r]];
                for (var t = 0; t < lengths[r]; t++)
                    for (var d = 0; d < headDim; d++)
                        logits[t] += 0.2 * q[(r * kvHeads * groups + h) * headDim + d] * k[((cacheRows[r] * kvHeads + g) * capacity + t) * headDim + d];
                var max = logits.Max();
                var weights = logits.Select(l => Math.Exp(l - max)).ToArray();
                var sum = weights.Sum();
                for (var d = 0; d < headDim; d++)
                {
                    var expected = 0.0;
                    for (var t = 0; t < lengths[r]; t++) expected += weights[t] / sum * v[((cacheRows[r] * kvHeads + g) * capacity + t) * headDim + d];
                    Assert.Equal(expected, output[(r * kvHeads * groups + h) * headDim + d], 1e-4);
                }
            }
    }

    [Theory]
    [InlineData(true, 64, 150)]
    [InlineData(false, 24, 41)]
    [InlineData(true, 128, 2000)]
    public unsafe void AChunksTokensAttendAsTheyWouldAlone(bool bf16, int headDim, int start)
    {
        // A verification attends a chunk of tokens of one row in one call; each token's output must have the bits its
        // own decode step would give it, or speculative decoding would not reproduce plain decoding.
        const int kvHeads = 2, groups = 2, chunk = 5, capacity = 2100;
        var heads = kvHeads * groups;
        var random = new Random(headDim + start);
        var q = Enumerable.Range(0, chunk * heads * headDim).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var k = Enumerable.Range(0, kvHeads * capacity * headDim).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var v = Enumerable.Range(0, k.Length).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var kb = k.Select(Dequantization.ToBfloat16).ToArray();
        var vb = v.Select(Dequantization.ToBfloat16).ToArray();
        var lengths = Enumerable.Range(start + 1, chunk).ToArray();
        using var pool = new RowParallel(2);

        float[] Attend(int first, int count, RowParallel threads)
        {
            var output = new float[count * heads * headDim];
            var scores = new float[count * heads * (start + chunk)];
            fixed (float* qp = q, kp = k, vp = v, op = output, sp = scores)
            fixed (ushort* kbp = kb, vbp = vb)
            {
                var keys = bf16 ? new FloatMemory(kbp, true) : new FloatMemory(kp, false);
                var values = bf16 ? new FloatMemory(vbp, true) : new FloatMemory(vp, false);
                CachedAttention.Attend(qp + first * heads * headDim, keys, values, new int[count], lengths[first..(first + count)], kvHeads, groups,
                    capacity, headDim, 0.125f, sp, op, threads);
            }
            return output;
        }

        var together = Attend(0, chunk, pool);
        using var one = new RowParallel(1);
        for (var i = 0; i < chunk; i++)
        {
            var alone = Attend(i, 1, i % 2 == 0 ? pool : one);
            var mine = together[(i * heads * headDim)..((i + 1) * heads * headDim)];
            Assert.Equal(alone.Select(BitConverter.SingleToInt32Bits), mine.Select(BitConverter.SingleToInt32Bits));
        }
    }

    private static float Bf16(float f) => VectorMath.ToFloat(Dequantization.ToBfloat16(f));
}
