using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Tests;

namespace LayerSkip.Engine.Tests.RealModel;

/// <summary>
/// Speculative decoding of the real stories260K model with drafts at lower precision and with fewer layers: the
/// greedy stories are the plain greedy ones, alone and batched.
/// </summary>
public class SpeculativeStories260KTests
{
    private static readonly string[] Prompts = ["Once upon a time", "The little dog", "Tom and Sue went to the park", "One day, a bird"];

    [Fact]
    public async Task EveryDraftConfigurationKeepsThePlainGreedyStories()
    {
        using var engine = InferenceEngine.Load(new EngineOptions { ModelPath = SharedData.Stories260K, Device = "cpu", MaxBatchSize = 4 });
        var prompts = Prompts.Select(p => (IReadOnlyList<int>)engine.Tokenizer.Encode(p, addBos: true)).ToList();
        GenerationRequest Request(IReadOnlyList<int> p, LayerPlan? plan = null, SpeculativeOptions? spec = null) =>
            new() { PromptTokens = p, MaxNewTokens = 40, StopTokenIds = [], Plan = plan, Speculative = spec };
        var plain = new List<IReadOnlyList<int>>();
        foreach (var p in prompts) plain.Add((await engine.GenerateAsync(Request(p))).Tokens);

        foreach (var precision in new[] { WeightFormat.None, WeightFormat.Int8, WeightFormat.Int4 })
            foreach (var speedup in new[] { 1.0, 1.25, 2.0 })
            {
                if (precision == WeightFormat.None && speedup == 1.0) continue; // that draft is the full model itself
                var plan = await engine.CreatePlanAsync(LayerPolicy.Unified, speedup);
                var spec = new SpeculativeOptions { MaxDraftTokens = 4, Adaptive = false, DraftPrecision = precision };
                var alone = await engine.GenerateAsync(Request(prompts[0], plan, spec));
                Assert.Equal(plain[0], alone.Tokens);
                var batched = await Task.WhenAll(prompts.Select(p => engine.GenerateAsync(Request(p, plan, spec))));
                for (var i = 0; i < prompts.Count; i++)
                    Assert.True(plain[i].SequenceEqual(batched[i].Tokens), $"{precision} draft at r = {speedup}: prompt {i} differs from plain greedy");
                Assert.True(batched.Sum(r => r.Summary.DraftedTokens) > 0);
            }
        Assert.True(await engine.RunAsync(m => m.DraftWeightBytes) > 0);
    }
}
