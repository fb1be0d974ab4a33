using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tests.Reference;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// A speculative verification pass must give, bit for bit, the logits that single-token decode steps give: in bfloat16
/// a batched pass rounds differently and flips near-ties, which would make speculative greedy output differ from plain.
/// </summary>
public class VerifyStepTests
{
    [Theory]
    [InlineData("bfloat16")]
    [InlineData("float32")]
    public void VerificationEqualsDecodeStepsExactly(string dtypeName)
    {
        var dtype = dtypeName == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        var config = TinyCheckpoint.LlamaConfig(layers: 3, hidden: 128, heads: 4, kvHeads: 2);
        using var ckpt = TinyCheckpoint.Create(config, seed: 13);
        using var model = DecoderModel.Load(ckpt.Folder, dtype, CPU);
        using var scope = NewDisposeScope();
        long[,] prompts = { { 1, 17, 42, 5, 88, 63 }, { 1, 9, 30, 71, 2, 54 } };
        long[,] next = { { 12, 7, 33, 90, 4 }, { 8, 8, 61, 20, 77 } };

        // Row 1 is two tokens shorter than row 0, so the steps need the padding mask.
        KvCache Prefilled()
        {
            var cache = model.CreateCache(2, 16);
            model.Forward(tensor(prompts), cache);
            cache.Truncate(1, 4);
            return cache;
        }
        using var stepCache = Prefilled();
        var steps = new List<float[]>[] { new(), new() };
        for (var j = 0; j < next.GetLength(1); j++)
        {
            var logits = model.Forward(tensor(new[,] { { next[0, j] }, { next[1, j] } }), stepCache).reshape(2, -1);
            for (var r = 0; r < 2; r++) steps[r].Add(logits[r].data<float>().ToArray());
        }
        using var verifyCache = Prefilled();
        var verified = model.VerifyStep(tensor(next), verifyCache);
        Assert.Equal(new long[] { 2, next.GetLength(1), config.VocabSize }, verified.shape);
        for (var r = 0; r < 2; r++)
            for (var j = 0; j < next.GetLength(1); j++)
                Assert.Equal(steps[r][j], verified[r, j].data<float>().ToArray());
        Assert.Equal(stepCache.Lengths, verifyCache.Lengths);
    }

    [Fact]
    public async Task BFloat16SpeculativeGreedyEqualsPlainGreedy()
    {
        var config = TinyCheckpoint.LlamaConfig(layers: 4, hidden: 128, heads: 4, kvHeads: 2, vocab: 96);
        using var ckpt = TinyCheckpoint.Create(config, seed: 4);
        using var engine = InferenceEngine.FromModel(() => DecoderModel.Load(ckpt.Folder, ScalarType.BFloat16, CPU, 96), maxBatchSize: 1);
        var plan = LayerPlanner.Create(LayerPolicy.Unified, 2, 4);
        var rng = new Random(7);
        for (var i = 0; i < 6; i++)
        {
            var prompt = new[] { 1 }.Concat(Enumerable.Range(0, 3 + i).Select(_ => rng.Next(3, 96))).ToArray();
            GenerationRequest Request(LayerPlan? p = null, SpeculativeOptions? spec = null) =>
                new() { PromptTokens = prompt, MaxNewTokens = 24, StopTokenIds = [], Plan = p, Speculative = spec };
            var plain = await engine.GenerateAsync(Request());
            foreach (var (draftPlan, precision) in new[] { (plan, WeightFormat.None), (LayerPlan.Full(4), WeightFormat.Int4), (plan, WeightFormat.Int8) })
            {
                var speculative = await engine.GenerateAsync(Request(draftPlan, new SpeculativeOptions { MaxDraftTokens = 5, Adaptive = false, DraftPrecision = precision }));
                Assert.Equal(plain.Tokens, speculative.Tokens);
            }
        }
    }
}
