using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tests.Reference;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>The engine's forward pass against the naive reference, on random checkpoints the test writes.</summary>
public class ForwardParityTests
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string> Architectures => new() { "llama-gqa", "llama-tied", "qwen2-bias", "qwen3-qknorm", "llama3-rope-scaling", "mistral-mha" };

    private static ModelConfig ConfigFor(string name) => name switch
    {
        "llama-gqa" => TinyCheckpoint.LlamaConfig(),
        "llama-tied" => TinyCheckpoint.LlamaConfig(tied: true),
        "qwen2-bias" => TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen2, tied: true),
        "qwen3-qknorm" => TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen3, heads: 4, kvHeads: 1),
        "llama3-rope-scaling" => TinyCheckpoint.LlamaConfig(scaling: new RopeScaling("llama3", 8, 1, 4, 16)) with { RopeTheta = 500000 },
        "mistral-mha" => TinyCheckpoint.LlamaConfig(ModelArchitecture.Mistral, kvHeads: 4),
        _ => throw new ArgumentException(name),
    };

    private static readonly int[] Tokens = [1, 17, 42, 5, 88, 63, 9, 30, 71, 2, 54];

    [Theory, MemberData(nameof(Architectures))]
    public void PrefillLogitsMatchTheReference(string arch)
    {
        using var ckpt = TinyCheckpoint.Create(ConfigFor(arch));
        var expected = new ReferenceDecoder(ckpt.Config, ckpt.Weights).Logits(Tokens);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var scope = NewDisposeScope();
        using var cache = model.CreateCache(1, 4);
        var logits = model.Forward(Ids(Tokens), cache, lastPositionOnly: false);
        AssertClose(expected, Rows(logits, 0));
    }

    [Theory, MemberData(nameof(Architectures))]
    public void DecodingWithTheCacheEqualsRecomputing(string arch)
    {
        using var ckpt = TinyCheckpoint.Create(ConfigFor(arch), seed: 7);
        var expected = new ReferenceDecoder(ckpt.Config, ckpt.Weights).Logits(Tokens);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var scope = NewDisposeScope();
        using var cache = model.CreateCache(1, 2); // small on purpose: the cache must grow while decoding
        var actual = new List<double[]>();
        actual.AddRange(Rows(model.Forward(Ids(Tokens[..4]), cache, lastPositionOnly: false), 0));
        foreach (var t in Tokens[4..])
            actual.AddRange(Rows(model.Forward(Ids([t]), cache), 0));
        AssertClose(expected, actual);
    }

    [Fact]
    public void ARaggedBatchDecodesLikeEachSequenceAlone()
    {
        using var ckpt = TinyCheckpoint.Create(ConfigFor("qwen3-qknorm"), seed: 3);
        var reference = new ReferenceDecoder(ckpt.Config, ckpt.Weights);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var scope = NewDisposeScope();
        int[][] prompts = [[1, 5, 9], [1, 7, 3, 8, 20, 11, 4], [1, 60]];
        int[][] continuations = [[14, 15, 16], [33, 34, 35], [70, 71, 72]];

        var batch = model.CreateCache(1, 8);
        model.Forward(Ids(prompts[0]), batch);
        for (var i = 1; i < prompts.Length; i++)
        {
            using var single = model.CreateCache(1, 16);
            model.Forward(Ids(prompts[i]), single);
            batch.AppendRows(single);
        }
        for (var step = 0; step < 3; step++)
        {
            var next = tensor(continuations.Select(c => (long)c[step]).ToArray(), [3, 1]);
            var logits = model.Forward(next, batch);
            for (var r = 0; r < 3; r++)
            {
                var seq = prompts[r].Concat(continuations[r].Take(step + 1)).ToArray();
                var expected = reference.Logits(seq)[^1];
                AssertClose([expected], Rows(logits, r));
            }
        }
        batch.Dispose();
    }

    [Fact]
    public void ASkippingPlanMatchesAReferenceThatRunsOnlyTheKeptLayersAfterThePrompt()
    {
        var config = TinyCheckpoint.LlamaConfig(layers: 6);
        using var ckpt = TinyCheckpoint.Create(config, seed: 11);
        var plan = LayerPlanner.Create(LayerPolicy.Explicit, 1, 6, explicitLayers: [0, 2, 5]);
        const int promptLength = 4;
        var expected = new ReferenceDecoder(ckpt.Config, ckpt.Weights).Logits(Tokens, plan.Runs, promptLength);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var scope = NewDisposeScope();
        using var cache = model.CreateCache(1, 16);
        var actual = new List<double[]>();
        actual.AddRange(Rows(model.Forward(Ids(Tokens[..promptLength]), cache, lastPositionOnly: false), 0));
        cache.KeepOnly(plan);
        Assert.Equal(plan.KeptLayers, cache.HeldLayers);
        foreach (var t in Tokens[promptLength..])
            actual.AddRange(Rows(model.Forward(Ids([t]), cache, plan), 0));
        AssertClose(expected, actual);
    }

    [Fact]
    public void AFullDepthPlanEqualsNoPlan()
    {
        using var ckpt = TinyCheckpoint.Create(ConfigFor("llama-gqa"), seed: 5);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var scope = NewDisposeScope();
        using var a = model.CreateCache(1, 16);
        using var b = model.CreateCache(1, 16);
        var plain = model.Forward(Ids(Tokens), a, null, lastPositionOnly: false);
        var full = model.Forward(Ids(Tokens), b, LayerPlanner.Create(LayerPolicy.Unified, 1.0, 4), lastPositionOnly: false);
        Assert.True(plain.allclose(full, 0, 0));
    }

    [Fact]
    public void ShardedAndBf16CheckpointsLoad()
    {
        var config = ConfigFor("llama-gqa");
        using var sharded = TinyCheckpoint.Create(config, seed: 9, sharded: true);
        using var bf16 = TinyCheckpoint.Create(config, seed: 9, dtype: SafeTensorDType.BF16);
        foreach (var ckpt in new[] { sharded, bf16 })
        {
            var expected = new ReferenceDecoder(ckpt.Config, ckpt.Weights).Logits(Tokens);
            using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
            using var scope = NewDisposeScope();
            using var cache = model.CreateCache(1, 16);
            AssertClose(expected, Rows(model.Forward(Ids(Tokens), cache, lastPositionOnly: false), 0));
        }
    }

    [Fact]
    public void Bfloat16ComputeStaysCloseToFloat32()
    {
        using var ckpt = TinyCheckpoint.Create(ConfigFor("llama-gqa"), seed: 2, dtype: SafeTensorDType.BF16);
        var expected = new ReferenceDecoder(ckpt.Config, ckpt.Weights).Logits(Tokens);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.BFloat16, CPU);
        using var scope = NewDisposeScope();
        using var cache = model.CreateCache(1, 16);
        var actual = Rows(model.Forward(Ids(Tokens), cache, lastPositionOnly: false), 0);
        // bf16 keeps 8 bits of mantissa: compare the argmax and a loose bound, not 1e-4.
        for (var t = 0; t < expected.Length; t++)
        {
            var scale = expected[t].Max(Math.Abs);
            Assert.All(expected[t].Zip(actual[t]), p => Assert.InRange(Math.Abs(p.First - p.Second), 0, 0.1 * scale + 0.1));
        }
    }

    internal static Tensor Ids(IReadOnlyList<int> ids) => tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count]);

    internal static List<double[]> Rows(Tensor logits, int row)
    {
        var l = logits[row];
        var n = (int)l.shape[0];
        return Enumerable.Range(0, n).Select(t => l[t].to(ScalarType.Float64).data<double>().ToArray()).ToList();
    }

    internal static void AssertClose(IReadOnlyList<double[]> expected, IReadOnlyList<double[]> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var t = 0; t < expected.Count; t++)
        {
            Assert.Equal(expected[t].Length, actual[t].Length);
            var worst = expected[t].Zip(actual[t], (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst < Tolerance, $"position {t}: max |logit difference| {worst:E2} ≥ {Tolerance:E0}");
        }
    }
}
