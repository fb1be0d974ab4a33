using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Tests.Generation;

public class SpeculativeDecodingTests(TinyEngineFixture fx) : IClassFixture<TinyEngineFixture>
{
    private static readonly SpeculativeOptions AlwaysDraft = new() { MaxDraftTokens = 3, Adaptive = false };

    [Fact]
    public async Task GreedySpeculativeOutputIsIdenticalToFullDecoding()
    {
        var plan = LayerPlanner.Create(LayerPolicy.Unified, 2, 6);
        var rng = new Random(5);
        var prompts = Enumerable.Range(0, 12).Select(i => new[] { 1 }.Concat(Enumerable.Range(0, 2 + i % 7).Select(_ => rng.Next(3, 64))).ToArray()).ToList();
        var requests = prompts.Select(p => new GenerationRequest { PromptTokens = p, MaxNewTokens = 12, StopTokenIds = [], Plan = plan, Speculative = AlwaysDraft });
        var speculative = await Task.WhenAll(requests.Select(r => fx.Engine.GenerateAsync(r)));
        for (var i = 0; i < prompts.Count; i++)
        {
            Assert.Equal(fx.ReferenceGreedy(prompts[i], 12), speculative[i].Tokens);
            Assert.True(speculative[i].Summary.DraftedTokens > 0);
            Assert.True(speculative[i].Summary.FullDepthPasses < 12, "verification should cover several tokens per full pass at least sometimes");
        }
    }

    public static TheoryData<string, double, int> DraftConfigurations => new()
    {
        { "int8", 1, 1 }, { "int4", 1, 1 }, { "int4", 1, 8 }, { "int8", 2, 8 }, { "int4", 2, 1 }, { "int4", 1.5, 8 }, { "none", 2, 8 },
    };

    [Theory, MemberData(nameof(DraftConfigurations))]
    public async Task LowPrecisionDraftsKeepTheFullModelsGreedyOutput(string precision, double speedup, int batch)
    {
        var plan = LayerPlanner.Create(LayerPolicy.Unified, speedup, 6);
        var format = LayerSkip.Engine.Model.WeightQuantization.Parse(precision).Format;
        var rng = new Random(11 + batch);
        var prompts = Enumerable.Range(0, batch).Select(i => new[] { 1 }.Concat(Enumerable.Range(0, 2 + i % 5).Select(_ => rng.Next(3, 64))).ToArray()).ToList();
        var speculative = await Task.WhenAll(prompts.Select(p => fx.Engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = p, MaxNewTokens = 14, StopTokenIds = [], Plan = plan, Speculative = AlwaysDraft with { DraftPrecision = format },
        })));
        for (var i = 0; i < prompts.Count; i++)
        {
            Assert.Equal(fx.ReferenceGreedy(prompts[i], 14), speculative[i].Tokens);
            Assert.True(speculative[i].Summary.DraftedTokens > 0);
        }
        // The draft copy exists exactly when the draft runs below the model's float32.
        var bytes = await fx.Engine.RunAsync(m => m.DraftWeightBytes);
        if (format != LayerSkip.Engine.Model.WeightFormat.None) Assert.True(bytes > 0, "the draft weights were never made");
    }

    [Fact]
    public void AnUndefinedDraftPrecisionIsRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SpeculativeOptions { DraftPrecision = (LayerSkip.Engine.Model.WeightFormat)7 });
        Assert.Equal(nameof(SpeculativeOptions.DraftPrecision), e.ParamName);
    }

    [Fact]
    public async Task AdaptiveDraftingStillMatchesFullDecoding()
    {
        var plan = LayerPlanner.Create(LayerPolicy.EarlyExit, 3, 6); // a poor drafter: drafting should shrink
        int[] prompt = [1, 4, 9, 16, 25];
        var result = await fx.Engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = prompt, MaxNewTokens = 24, StopTokenIds = [], Plan = plan, Speculative = new SpeculativeOptions(),
        });
        Assert.Equal(fx.ReferenceGreedy(prompt, 24), result.Tokens);
    }

    [Fact]
    public async Task ASeededSampledRequestGivesTheSameTokensAloneAndWithAnyBatchMates()
    {
        var plan = LayerPlanner.Create(LayerPolicy.Unified, 2, 6);
        var speculative = new SpeculativeOptions { MaxDraftTokens = 4 };
        GenerationRequest Seeded(int[] prompt, int seed, int max = 20) => new()
        {
            PromptTokens = prompt, MaxNewTokens = max, StopTokenIds = [], Plan = plan, Speculative = speculative,
            Sampling = new SamplingOptions { Temperature = 0.8, Seed = seed },
        };
        var request = Seeded([1, 5, 9, 2], seed: 42);
        var alone = await fx.Engine.GenerateAsync(request);
        Assert.True(alone.Summary.DraftedTokens > 0);

        var rng = new Random(3);
        for (var trial = 0; trial < 4; trial++)
        {
            // Batch-mates differ each time: greedy or other seeds, other prompts and lengths, so their draft lengths differ.
            var mates = Enumerable.Range(0, 1 + trial).Select(i =>
            {
                var prompt = new[] { 1 }.Concat(Enumerable.Range(0, 2 + rng.Next(6)).Select(_ => rng.Next(3, 64))).ToArray();
                return i % 2 == 0
                    ? Seeded(prompt, seed: rng.Next(), max: 5 + rng.Next(30))
                    : Seeded(prompt, 0, max: 5 + rng.Next(30)) with { Sampling = SamplingOptions.Greedy };
            });
            var results = await Task.WhenAll(mates.Prepend(request).Select(r => fx.Engine.GenerateAsync(r)));
            Assert.Equal(alone.Tokens, results[0].Tokens);
        }
    }

    [Fact]
    public async Task SampledSpeculativeTokensFollowTheFullModelsDistribution()
    {
        int[] prompt = [1, 7, 11];
        const int runs = 1500;
        var plan = LayerPlanner.Create(LayerPolicy.EarlyExit, 3, 6);
        var sampling = new SamplingOptions { Temperature = 1.0 };

        // The exact distribution of the second generated token under the full model: Σ_t1 p(t1) p(t2 | t1).
        var vocab = fx.Checkpoint.Config.VocabSize;
        var first = Softmax(fx.Reference.Logits(prompt)[^1]);
        var expected = new double[vocab];
        for (var t1 = 0; t1 < vocab; t1++)
        {
            if (first[t1] < 1e-6) continue;
            var second = Softmax(fx.Reference.Logits([.. prompt, t1])[^1]);
            for (var t2 = 0; t2 < vocab; t2++) expected[t2] += first[t1] * second[t2];
        }

        async Task<int[]> SecondTokens(SpeculativeOptions? speculative)
        {
            var counts = new int[vocab];
            for (var start = 0; start < runs; start += 50)
            {
                var batch = Enumerable.Range(start, 50).Select(seed => fx.Engine.GenerateAsync(new GenerationRequest
                {
                    PromptTokens = prompt, MaxNewTokens = 3, StopTokenIds = [], Plan = plan, Speculative = speculative,
                    Sampling = sampling with { Seed = seed },
                }));
                foreach (var r in await Task.WhenAll(batch)) counts[r.Tokens[1]]++;
            }
            return counts;
        }

        var speculativeCounts = await SecondTokens(AlwaysDraft with { MaxDraftTokens = 2 });
        Assert.True(Statistics.ChiSquare(speculativeCounts, expected, out var df) < Statistics.ChiSquareCritical(df), "speculative sampling departs from the full model");
        // The same test has the power to reject: sampling from the skipping plan alone does not match.
        var draftOnly = await SecondTokens(null);
        Assert.True(Statistics.ChiSquare(draftOnly, expected, out var df2) > Statistics.ChiSquareCritical(df2), "the test failed to tell the draft model from the full one");
    }

    private static double[] Softmax(double[] logits)
    {
        var max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        var s = e.Sum();
        return e.Select(x => x / s).ToArray();
    }
}
