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
    public async Task DraftsCopiedFromTheContextKeepTheFullModelsGreedyOutput()
    {
        // Prompts that repeat themselves, so the context has continuations to copy; batches of one and of several.
        var rng = new Random(21);
        var prompts = Enumerable.Range(0, 10).Select(i =>
        {
            var motif = Enumerable.Range(0, 2 + i % 4).Select(_ => rng.Next(3, 64)).ToArray();
            return new[] { 1 }.Concat(Enumerable.Repeat(motif, 2 + i % 3).SelectMany(m => m)).ToArray();
        }).ToList();
        var lookup = AlwaysDraft with { Drafts = DraftSource.Lookup, MaxDraftTokens = 4 };
        // A plan given with copied drafts is ignored: every step is a full-depth pass.
        GenerationRequest Request(int[] p) => new() { PromptTokens = p, MaxNewTokens = 16, StopTokenIds = [], Plan = LayerPlanner.Create(LayerPolicy.Unified, 2, 6), Speculative = lookup };
        var alone = new List<GenerationResult>();
        foreach (var p in prompts.Take(4)) alone.Add(await fx.Engine.GenerateAsync(Request(p)));
        var batched = await Task.WhenAll(prompts.Select(p => fx.Engine.GenerateAsync(Request(p))));
        foreach (var (result, prompt) in alone.Concat(batched).Zip(prompts.Take(4).Concat(prompts)))
        {
            Assert.Equal(fx.ReferenceGreedy(prompt, 16), result.Tokens);
            Assert.True(result.Summary.Plan.IsFullDepth);
        }
        Assert.True(batched.Sum(r => r.Summary.DraftedTokens) > 0, "nothing was copied");
        Assert.True(batched.Sum(r => r.Summary.AcceptedDraftTokens) > 0, "no copied draft was ever accepted");
    }

    [Fact]
    public async Task ASeededRequestDoesNotLearnFromTheRequestsBeforeIt()
    {
        // Options no other test uses: this test's requests are the first of their kind in the engine.
        var options = new SpeculativeOptions { MaxDraftTokens = 5, Adaptive = true, DraftPrecision = LayerSkip.Engine.Model.WeightFormat.Int8 };
        int[] prompt = [1, 17, 23, 9];
        GenerationRequest Seeded() => new()
        {
            PromptTokens = prompt, MaxNewTokens = 24, StopTokenIds = [], Speculative = options,
            Sampling = new SamplingOptions { Temperature = 1.0, Seed = 99 },
        };
        var first = await fx.Engine.GenerateAsync(Seeded());
        // A greedy request of the same kind drafts by timing and leaves its acceptance for the next requests.
        var greedy = await fx.Engine.GenerateAsync(new GenerationRequest { PromptTokens = prompt, MaxNewTokens = 24, StopTokenIds = [], Speculative = options });
        Assert.Equal(fx.ReferenceGreedy(prompt, 24), greedy.Tokens);
        var again = await fx.Engine.GenerateAsync(Seeded());
        Assert.Equal(first.Tokens, again.Tokens);
        Assert.Equal(first.Summary.DraftedTokens, again.Summary.DraftedTokens);
    }

    [Fact]
    public async Task CopiedDraftsTakeNoDraftPrecision()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => fx.Engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = [1, 5, 5], Speculative = new SpeculativeOptions { Drafts = DraftSource.Lookup, DraftPrecision = LayerSkip.Engine.Model.WeightFormat.Int4 },
        }));
        Assert.Equal(nameof(GenerationRequest.Speculative), e.ParamName);
        Assert.Contains("Int4", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpeculativeOptions { Drafts = (DraftSource)5 });
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

    [Theory]
    [InlineData(DraftSource.Model)]
    [InlineData(DraftSource.Lookup)]
    public async Task ASeededSampledRequestGivesTheSameTokensAloneAndWithAnyBatchMates(DraftSource drafts)
    {
        var plan = LayerPlanner.Create(LayerPolicy.Unified, 2, 6);
        var speculative = new SpeculativeOptions { MaxDraftTokens = 4, Drafts = drafts };
        // Copied drafts need output that repeats itself: a low temperature makes this small model loop, as greedy does.
        var temperature = drafts == DraftSource.Lookup ? 0.3 : 0.8;
        GenerationRequest Seeded(int[] prompt, int seed, int max = 20) => new()
        {
            PromptTokens = prompt, MaxNewTokens = max, StopTokenIds = [], Plan = plan, Speculative = speculative,
            Sampling = new SamplingOptions { Temperature = temperature, Seed = seed },
        };
        var request = Seeded([1, 5, 9, 2], seed: 42, max: drafts == DraftSource.Lookup ? 40 : 20);
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
        var plan = LayerPlanner.Create(LayerPolicy.EarlyExit, 3, 6);
        var expected = SecondTokenDistribution(prompt);
        var (speculativeCounts, drafted) = await SecondTokens(prompt, plan, AlwaysDraft with { MaxDraftTokens = 2 });
        Assert.True(drafted > 0);
        Assert.True(Statistics.ChiSquare(speculativeCounts, expected, out var df) < Statistics.ChiSquareCritical(df), "speculative sampling departs from the full model");
        // The same test has the power to reject: sampling from the skipping plan alone does not match.
        var (draftOnly, _) = await SecondTokens(prompt, plan, null);
        Assert.True(Statistics.ChiSquare(draftOnly, expected, out var df2) > Statistics.ChiSquareCritical(df2), "the test failed to tell the draft model from the full one");
    }

    [Fact]
    public async Task SampledTokensWithCopiedDraftsFollowTheFullModelsDistribution()
    {
        // The prompt ends in 3 and holds "3 t s(t)" for the likeliest first tokens t, so after most first tokens the
        // context has a continuation to copy for the second: a draft the full model keeps with its own probability of it.
        var (prompt, covered) = CoveringPrompt(19);
        var first = Softmax(fx.Reference.Logits(prompt)[^1]);
        var coverage = covered.Sum(t => first[t]);
        Assert.True(coverage > 0.5, $"the prompt covers only {coverage:P0} of the first token's distribution");

        var expected = SecondTokenDistribution(prompt);
        var (counts, drafted) = await SecondTokens(prompt, null, AlwaysDraft with { MaxDraftTokens = 2, Drafts = DraftSource.Lookup });
        Assert.True(drafted > Runs * coverage / 2, $"only {drafted} drafts in {Runs} runs");
        Assert.True(Statistics.ChiSquare(counts, expected, out var df) < Statistics.ChiSquareCritical(df), "sampling with copied drafts departs from the full model");
        // Had every copied draft been kept, a covered first token t would always be followed by s(t).
        var copyOnly = new double[expected.Length];
        for (var t1 = 0; t1 < first.Length; t1++)
        {
            if (covered.Contains(t1)) { copyOnly[Successor(t1)] += first[t1]; continue; }
            var second = Softmax(fx.Reference.Logits([.. prompt, t1])[^1]);
            for (var t2 = 0; t2 < second.Length; t2++) copyOnly[t2] += first[t1] * second[t2];
        }
        Assert.True(Statistics.ChiSquare(counts, copyOnly, out var df2) > Statistics.ChiSquareCritical(df2), "the test failed to tell copying from sampling");
    }

    private static int Successor(int t) => t == 63 ? 4 : t + 1;

    /// <summary>A prompt ending in 3 that holds "3 t s(t)" for each of <paramref name="tokens"/>: after any of them the context has a continuation to copy.</summary>
    private static int[] Covering(IEnumerable<int> tokens) => [1, .. tokens.SelectMany(t => new[] { 3, t, Successor(t) }), 3];

    /// <summary>
    /// A <see cref="Covering"/> prompt for <paramref name="count"/> tokens among the likeliest first tokens: those of
    /// the full model after a first covering prompt (the final prompt moves them a little).
    /// </summary>
    private (int[] Prompt, int[] Covered) CoveringPrompt(int count)
    {
        var covered = Softmax(fx.Reference.Logits(Covering(Enumerable.Range(4, count)))[^1]).Select((q, t) => (q, t))
            .Where(x => x.t > 3).OrderByDescending(x => x.q).Take(count).Select(x => x.t).ToArray();
        return (Covering(covered), covered);
    }

    private const int Runs = 1500;

    /// <summary>The exact distribution of the second generated token under the full model: Σ_t1 p(t1) p(t2 | t1).</summary>
    private double[] SecondTokenDistribution(int[] prompt)
    {
        var vocab = fx.Checkpoint.Config.VocabSize;
        var first = Softmax(fx.Reference.Logits(prompt)[^1]);
        var expected = new double[vocab];
        for (var t1 = 0; t1 < vocab; t1++)
        {
            if (first[t1] < 1e-6) continue;
            var second = Softmax(fx.Reference.Logits([.. prompt, t1])[^1]);
            for (var t2 = 0; t2 < vocab; t2++) expected[t2] += first[t1] * second[t2];
        }
        return expected;
    }

    /// <summary>Counts of the second generated token over <see cref="Runs"/> seeds at temperature 1, and the tokens drafted.</summary>
    private async Task<(int[] Counts, int Drafted)> SecondTokens(int[] prompt, LayerPlan? plan, SpeculativeOptions? speculative)
    {
        var counts = new int[fx.Checkpoint.Config.VocabSize];
        var drafted = 0;
        for (var start = 0; start < Runs; start += 50)
        {
            var batch = Enumerable.Range(start, 50).Select(seed => fx.Engine.GenerateAsync(new GenerationRequest
            {
                PromptTokens = prompt, MaxNewTokens = 3, StopTokenIds = [], Plan = plan, Speculative = speculative,
                Sampling = new SamplingOptions { Temperature = 1.0, Seed = seed },
            }));
            foreach (var r in await Task.WhenAll(batch))
            {
                counts[r.Tokens[1]]++;
                drafted += r.Summary.DraftedTokens;
            }
        }
        return (counts, drafted);
    }

    private static double[] Softmax(double[] logits)
    {
        var max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        var s = e.Sum();
        return e.Select(x => x / s).ToArray();
    }
}
