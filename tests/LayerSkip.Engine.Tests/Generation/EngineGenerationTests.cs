using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tests.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Generation;

/// <summary>A tiny random checkpoint and an engine over it, shared by the generation tests.</summary>
public sealed class TinyEngineFixture : IDisposable
{
    public TinyEngineFixture()
    {
        Checkpoint = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig(layers: 6, vocab: 64), seed: 21);
        Engine = InferenceEngine.FromModel(() => DecoderModel.Load(Checkpoint.Folder, ScalarType.Float32, CPU, 64), maxBatchSize: 8);
        Reference = new ReferenceDecoder(Checkpoint.Config, Checkpoint.Weights);
    }

    public TinyCheckpoint Checkpoint { get; }
    public InferenceEngine Engine { get; }
    public ReferenceDecoder Reference { get; }

    /// <summary>Greedy continuation by the naive reference, recomputing everything at each step.</summary>
    public List<int> ReferenceGreedy(IReadOnlyList<int> prompt, int steps, Func<int, bool>? runs = null)
    {
        var seq = prompt.ToList();
        var output = new List<int>();
        for (var i = 0; i < steps; i++)
        {
            var logits = Reference.Logits(seq, runs, prompt.Count)[^1];
            var next = Array.IndexOf(logits, logits.Max());
            output.Add(next);
            seq.Add(next);
        }
        return output;
    }

    public void Dispose()
    {
        Engine.Dispose();
        Checkpoint.Dispose();
    }
}

public class EngineGenerationTests(TinyEngineFixture fx) : IClassFixture<TinyEngineFixture>
{
    private static GenerationRequest Greedy(int[] prompt, int tokens, LayerPlan? plan = null) => new()
    {
        PromptTokens = prompt, MaxNewTokens = tokens, Plan = plan, StopTokenIds = [],
    };

    [Fact]
    public async Task GreedyGenerationMatchesTheReference()
    {
        int[] prompt = [1, 9, 33, 4, 17];
        var result = await fx.Engine.GenerateAsync(Greedy(prompt, 8));
        Assert.Equal(fx.ReferenceGreedy(prompt, 8), result.Tokens);
        Assert.Equal(FinishReason.Length, result.Summary.FinishReason);
        Assert.Equal(5, result.Summary.PromptTokens);
        Assert.Equal(8, result.Summary.GeneratedTokens);
    }

    [Fact]
    public async Task GreedyGenerationUnderAPlanMatchesTheSkippingReference()
    {
        int[] prompt = [1, 40, 2, 8];
        var plan = LayerPlanner.Create(LayerPolicy.Unified, 2, 6);
        var result = await fx.Engine.GenerateAsync(Greedy(prompt, 6, plan));
        Assert.Equal(fx.ReferenceGreedy(prompt, 6, plan.Runs), result.Tokens);
        Assert.Equal(plan, result.Summary.Plan);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    public async Task ConcurrentRequestsOfDifferentLengthsDecodeLikeEachAlone(double speedup)
    {
        var plan = LayerPlanner.Create(LayerPolicy.Unified, speedup, 6);
        int[][] prompts = [[1, 3], [1, 5, 7, 9, 11, 13, 15], [1, 60, 61, 62], [1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]];
        var alone = new List<IReadOnlyList<int>>();
        foreach (var p in prompts) alone.Add((await fx.Engine.GenerateAsync(Greedy(p, 7, plan))).Tokens);
        var together = await Task.WhenAll(prompts.Select(p => fx.Engine.GenerateAsync(Greedy(p, 7, plan))));
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(alone[i], together[i].Tokens);
            Assert.Equal(fx.ReferenceGreedy(prompts[i], 7, plan.Runs), alone[i]);
        }
    }

    [Fact]
    public async Task RequestsWithDifferentPlansRunSideBySide()
    {
        int[] prompt = [1, 12, 13, 14];
        var plans = new LayerPlan?[] { null, LayerPlanner.Create(LayerPolicy.Unified, 2, 6), LayerPlanner.Create(LayerPolicy.EarlyExit, 3, 6) };
        var results = await Task.WhenAll(plans.Select(p => fx.Engine.GenerateAsync(Greedy(prompt, 5, p))));
        for (var i = 0; i < plans.Length; i++)
            Assert.Equal(fx.ReferenceGreedy(prompt, 5, plans[i] is { } plan ? plan.Runs : null), results[i].Tokens);
    }

    [Fact]
    public async Task SamplingWithASeedIsReproducibleAndSeedsDiffer()
    {
        SamplingOptions Sampling(int seed) => new() { Temperature = 1.5, TopK = 40, TopP = 0.95, Seed = seed };
        GenerationRequest Req(int seed) => Greedy([1, 2, 3], 24) with { Sampling = Sampling(seed) };
        var a = await fx.Engine.GenerateAsync(Req(7));
        var b = await fx.Engine.GenerateAsync(Req(7));
        var c = await fx.Engine.GenerateAsync(Req(8));
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.NotEqual(a.Tokens, c.Tokens);
    }

    [Fact]
    public async Task ASeededRequestGetsTheSameTokensAloneOrBatchedWithFifteenCopies()
    {
        GenerationRequest Req(int seed) => Greedy([1, 2, 3], 24) with { Sampling = new SamplingOptions { Temperature = 1.2, TopK = 40, TopP = 0.95, Seed = seed } };
        var alone = await fx.Engine.GenerateAsync(Req(7));
        // Sixteen copies at once (the engine batches up to eight, so they also run at changing batch sizes),
        // beside batch-mates that sample differently.
        var mates = new[] { Greedy([1, 5, 9], 24), Req(8), Greedy([1, 2, 3], 24) with { Sampling = new SamplingOptions { Temperature = 0.7 } } };
        var copies = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => fx.Engine.GenerateAsync(Req(7))).Concat(mates.Select(m => fx.Engine.GenerateAsync(m))));
        Assert.All(copies.Take(16), c => Assert.Equal(alone.Tokens, c.Tokens));
        Assert.NotEqual(alone.Tokens, copies[17].Tokens); // another seed differs
    }

    [Fact]
    public async Task AConstrainedRequestSamplesFromTheMaskedSoftmaxAtEveryStep()
    {
        int[] prompt = [1, 7, 11];
        int[] allowed = [3, 9, 20, 41, 50];
        var vocab = fx.Checkpoint.Config.VocabSize;
        double[] Masked(double[] logits)
        {
            var max = allowed.Max(t => logits[t]);
            var p = new double[vocab];
            foreach (var t in allowed) p[t] = Math.Exp(logits[t] - max);
            var sum = p.Sum();
            return p.Select(x => x / sum).ToArray();
        }
        // The exact distribution of the second token: Σ_t1 p(t1) p(t2 | t1), both masked.
        var first = Masked(fx.Reference.Logits(prompt)[^1]);
        var expected = new double[vocab];
        foreach (var t1 in allowed)
        {
            var second = Masked(fx.Reference.Logits([.. prompt, t1])[^1]);
            for (var t2 = 0; t2 < vocab; t2++) expected[t2] += first[t1] * second[t2];
        }
        var firstCounts = new int[vocab];
        var secondCounts = new int[vocab];
        for (var start = 0; start < 1500; start += 50)
        {
            var batch = Enumerable.Range(start, 50).Select(seed => fx.Engine.GenerateAsync(Greedy(prompt, 2) with
            {
                Sampling = new SamplingOptions { Temperature = 1.0, Seed = seed }, LogitsProcessor = new AllowOnly(allowed),
            }));
            foreach (var r in await Task.WhenAll(batch)) { firstCounts[r.Tokens[0]]++; secondCounts[r.Tokens[1]]++; }
        }
        Assert.True(Statistics.Fits(firstCounts, first), "the first (prefill) token departs from the masked softmax");
        Assert.True(Statistics.Fits(secondCounts, expected), "the second (decode) token departs from the masked softmax");
    }

    private sealed class AllowOnly(int[] ids) : ILogitsProcessor
    {
        public void ComputeAllowed(Span<bool> allowed) { foreach (var i in ids) allowed[i] = true; }
        public void Accept(int tokenId) { }
    }

    [Fact]
    public async Task AStopTokenEndsTheSequenceAndIsNotEmitted()
    {
        int[] prompt = [1, 9, 33, 4, 17];
        var expected = fx.ReferenceGreedy(prompt, 8);
        var stop = expected[3];
        var cut = expected.IndexOf(stop);
        var result = await fx.Engine.GenerateAsync(Greedy(prompt, 8) with { StopTokenIds = [stop] });
        Assert.Equal(expected.Take(cut), result.Tokens);
        Assert.Equal(FinishReason.Stop, result.Summary.FinishReason);
    }

    [Fact]
    public async Task CancellationStopsARequestWithoutDisturbingOthers()
    {
        using var cts = new CancellationTokenSource();
        // The doomed request's first token holds the engine thread until the test has cancelled: otherwise, on a busy
        // machine, the engine can decode all 50 tokens before this thread gets to Cancel, and nothing is cancelled.
        using var pause = new PauseAfterFirstToken();
        var doomed = fx.Engine.Submit(Greedy([1, 4, 5], 50) with { LogitsProcessor = pause }, cts.Token);
        var survivor = fx.Engine.GenerateAsync(Greedy([1, 9, 33, 4, 17], 8));
        await pause.FirstToken.WaitAsync(TimeSpan.FromSeconds(60));
        cts.Cancel();
        pause.Resume();
        var received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => { await foreach (var _ in doomed.ReadAllAsync()) received++; });
        Assert.Equal(1, received); // cancelled before its next step
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => doomed.Completion);
        Assert.Equal(fx.ReferenceGreedy([1, 9, 33, 4, 17], 8), (await survivor).Tokens);
    }

    /// <summary>Allows every token; on the first one it signals and waits (on the engine thread) until resumed.</summary>
    private sealed class PauseAfterFirstToken : ILogitsProcessor, IDisposable
    {
        private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ManualResetEventSlim _resume = new();

        public Task FirstToken => _first.Task;
        public void Resume() => _resume.Set();
        public void ComputeAllowed(Span<bool> allowed) => allowed.Fill(true);

        public void Accept(int tokenId)
        {
            if (_first.TrySetResult() && !_resume.Wait(TimeSpan.FromSeconds(60)))
                throw new TimeoutException("The test did not resume the engine.");
        }

        public void Dispose() => _resume.Dispose();
    }

    [Fact]
    public async Task TheSequenceStopsAtTheMaximumLength()
    {
        var prompt = Enumerable.Range(1, 60).ToArray();
        var result = await fx.Engine.GenerateAsync(Greedy(prompt, 50));
        Assert.Equal(64 - 60, result.Tokens.Count);
        Assert.Equal(FinishReason.Length, result.Summary.FinishReason);
    }

    [Fact]
    public async Task AFollowUpPromptReusesTheCachedPrefixAndStillMatchesTheReference()
    {
        int[] first = [1, 30, 31, 32, 33, 34, 35, 36, 37, 38];
        var firstResult = await fx.Engine.GenerateAsync(Greedy(first, 4));
        var followUp = first.Concat(firstResult.Tokens).Concat([50, 51]).ToArray();
        var result = await fx.Engine.GenerateAsync(Greedy(followUp, 5));
        Assert.Equal(first.Length, result.Summary.ReusedPromptTokens);
        Assert.Equal(fx.ReferenceGreedy(followUp, 5), result.Tokens);
    }

    [Fact]
    public async Task AnExactRepeatReusesEveryPromptPositionAndItsLogits()
    {
        int[] prompt = [1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49];
        var seeded = Greedy(prompt, 6) with { Sampling = new SamplingOptions { Temperature = 1.5, Seed = 7 } };
        var first = await fx.Engine.GenerateAsync(seeded);
        var again = await fx.Engine.GenerateAsync(seeded);
        Assert.Equal(prompt.Length, again.Summary.ReusedPromptTokens); // nothing recomputed, not even the last position
        Assert.Equal(first.Tokens, again.Tokens);
        var greedy = await fx.Engine.GenerateAsync(Greedy(prompt, 5));
        Assert.Equal(prompt.Length, greedy.Summary.ReusedPromptTokens);
        Assert.Equal(fx.ReferenceGreedy(prompt, 5), greedy.Tokens);
        // A prompt that a cached one merely starts with has no stored logits: its last position is computed.
        var shorter = await fx.Engine.GenerateAsync(Greedy(prompt[..^1], 5));
        Assert.Equal(prompt.Length - 2, shorter.Summary.ReusedPromptTokens);
        Assert.Equal(fx.ReferenceGreedy(prompt[..^1], 5), shorter.Tokens);
    }

    [Fact]
    public async Task LiveTensorsStayFlatOverLongRuns()
    {
        await fx.Engine.GenerateAsync(Greedy([1, 2], 5));
        var before = await fx.Engine.RunAsync(_ => DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        await fx.Engine.GenerateAsync(Greedy([1, 2], 60));
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => fx.Engine.GenerateAsync(Greedy([1, 2 + i], 30))));
        var after = await fx.Engine.RunAsync(_ => DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(before, after);
    }

    [Fact]
    public void BadRequestsAreRejectedClearly()
    {
        var tooLong = Assert.Throws<ArgumentException>(() => fx.Engine.Submit(Greedy(Enumerable.Range(1, 64).ToArray(), 4)));
        Assert.Contains("maximum sequence length of 64", tooLong.Message);
        Assert.Contains("no tokens", Assert.Throws<ArgumentException>(() => fx.Engine.Submit(Greedy([], 4))).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => fx.Engine.Submit(Greedy([1, 999], 4))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => fx.Engine.Submit(Greedy([1], 4) with { Sampling = new SamplingOptions { Temperature = -1 } }));
        Assert.Contains("for 32 layers", Assert.Throws<ArgumentException>(() => fx.Engine.Submit(Greedy([1], 4, LayerPlan.Full(32)))).Message);
    }

    [Fact]
    public void AskingForCudaWithoutItIsAClearError()
    {
        if (cuda.is_available()) return; // this check is for CPU-only machines
        var e = Assert.Throws<InvalidOperationException>(() => ComputeDevice.Resolve("cuda"));
        Assert.Contains("CUDA is not available", e.Message);
        Assert.Equal(DeviceType.CPU, ComputeDevice.Resolve("auto").type);
        Assert.Throws<ArgumentException>(() => ComputeDevice.Resolve("tpu"));
    }
}
