using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Generation.Sampling;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Generation;

/// <summary>
/// The device sampler against direct reference computations: the sampled distribution is softmax(logits / T)
/// restricted to top-k and top-p (chi-square, with a check that the test can reject), penalties and grammar masks
/// change the logits exactly as specified, and the random draws are a pure function of (seed, draw, token).
/// </summary>
public class LogitsSamplerTests
{
    private const int Draws = 20000;

    internal static float[] RandomLogits(int vocab, double scale, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, vocab).Select(_ => (float)(scale * (rng.NextDouble() * 2 - 1) * 2)).ToArray();
    }

    /// <summary>The reference: sort, keep the top k, renormalise, keep the smallest prefix reaching p, renormalise.</summary>
    internal static double[] Expected(float[] logits, SamplingOptions o)
    {
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToArray();
        var k = Math.Min(o.TopK ?? logits.Length, logits.Length);
        var max = logits.Max();
        var weight = order.Take(k).Select(i => Math.Exp((logits[i] - max) / o.Temperature)).ToArray();
        var sum = weight.Sum();
        var keep = k;
        if (o.TopP is { } p)
        {
            double cumulative = 0;
            var total = o.TopK is null ? FullSum(logits, o.Temperature, max) : sum;
            for (var i = 0; i < k; i++)
                if ((cumulative += weight[i] / total) >= p) { keep = i + 1; break; }
        }
        var kept = weight.Take(keep).Sum();
        var probabilities = new double[logits.Length];
        for (var i = 0; i < keep; i++) probabilities[order[i]] = weight[i] / kept;
        return probabilities;
    }

    private static double FullSum(float[] logits, double t, float max) => logits.Sum(l => Math.Exp((l - max) / t));

    private static double[] Softmax(float[] logits, double t = 1) => Expected(logits, new SamplingOptions { Temperature = t });

    /// <summary>Counts of one draw from each of <paramref name="rows"/> independently seeded sequences over the same logits.</summary>
    private static int[] Sample(float[] logits, SamplingOptions options, int rows = Draws, Func<int, TokenSampler>? sampler = null, int chunk = Draws, bool tensorOps = false)
    {
        var counts = new int[logits.Length];
        var sampling = new LogitsSampler { TensorOps = tensorOps };
        for (var start = 0; start < rows; start += chunk)
        {
            var n = Math.Min(chunk, rows - start);
            using var scope = NewDisposeScope();
            var batch = tensor(logits).unsqueeze(0).repeat(n, 1).contiguous();
            var samplers = Enumerable.Range(start, n).Select(i => sampler?.Invoke(i) ?? new TokenSampler(options with { Seed = i })).ToList();
            foreach (var t in sampling.Choose(batch, samplers)) counts[t]++;
        }
        return counts;
    }

    /// <summary>Each setting on both paths: CPU logits read in place, and libtorch ops (the path of other devices).</summary>
    public static TheoryData<double, int?, double?, bool> Settings => new()
    {
        { 0.7, null, null, false },
        { 1.3, 12, null, false },
        { 0.8, null, 0.8, false },
        { 0.8, 20, 0.9, false },
        { 1.0, 5, 0.5, false },
        { 0.7, null, null, true },
        { 1.3, 12, null, true },
        { 0.8, null, 0.8, true },
        { 0.8, 20, 0.9, true },
        { 1.0, 5, 0.5, true },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void SampledTokensFollowTheRestrictedSoftmax(double temperature, int? topK, double? topP, bool tensorOps)
    {
        var logits = RandomLogits(40, 1.0, seed: 3);
        var options = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP };
        var counts = Sample(logits, options, tensorOps: tensorOps);
        Assert.True(Statistics.Fits(counts, Expected(logits, options)), "the sampled frequencies depart from the reference distribution");
        // Power: the same counts are rejected as draws from the plain softmax at temperature 1.
        Assert.False(Statistics.Fits(counts, Softmax(logits)), "the test cannot tell the restricted distribution from the plain softmax");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ANucleusWiderThanTheCandidatesFallsBackToMore(bool tensorOps)
    {
        // Nearly flat logits over 3000 tokens: the 0.5 nucleus holds far more than the first candidate set.
        var logits = RandomLogits(3000, 0.15, seed: 9);
        var options = new SamplingOptions { Temperature = 1.0, TopP = 0.5 };
        var expected = Expected(logits, options);
        Assert.True(expected.Count(p => p > 0) > LogitsSampler.NucleusCandidates, "the test must exercise the fallback");
        var counts = Sample(logits, options, chunk: 2000, tensorOps: tensorOps);
        for (var t = 0; t < counts.Length; t++)
            if (counts[t] > 0) Assert.True(expected[t] > 0, $"token {t} is outside the nucleus");
        Assert.True(Statistics.Fits(counts, expected));
        Assert.False(Statistics.Fits(counts, Softmax(logits)));
    }

    [Fact]
    public void PenaltiesMatchADirectReference()
    {
        var logits = RandomLogits(30, 1.0, seed: 5);
        int[] history = [3, 3, 5, 7, 3, 11, 5];
        var options = new SamplingOptions { Temperature = 1.0, FrequencyPenalty = 0.4, PresencePenalty = 0.7, };
        var penalised = (float[])logits.Clone();
        foreach (var g in history.GroupBy(t => t)) penalised[g.Key] -= (float)(0.4 * g.Count() + 0.7);

        TokenSampler WithHistory(int seed)
        {
            var s = new TokenSampler(options with { Seed = seed });
            foreach (var t in history) s.Record(t);
            return s;
        }

        var counts = Sample(logits, options, sampler: WithHistory);
        Assert.True(Statistics.Fits(counts, Softmax(penalised)));
        Assert.False(Statistics.Fits(counts, Softmax(logits)), "the test cannot tell penalised from plain logits");

        // Greedy with penalties, step by step, against the same rule applied by hand.
        var greedy = new TokenSampler(new SamplingOptions { FrequencyPenalty = 0.9, PresencePenalty = 0.3 });
        var seen = new Dictionary<int, int>();
        for (var step = 0; step < 40; step++)
        {
            var reference = (float[])logits.Clone();
            foreach (var (t, c) in seen) reference[t] -= (float)(0.9 * c + 0.3);
            var want = Array.IndexOf(reference, reference.Max());
            Assert.Equal(want, greedy.Sample(logits));
            seen[want] = seen.GetValueOrDefault(want) + 1;
        }
    }

    [Fact]
    public void AGrammarMaskRestrictsOnlyItsOwnRow()
    {
        var logits = RandomLogits(20, 1.0, seed: 8);
        var allowed = new AllowOnly(2, 5, 17);
        var options = new SamplingOptions { Temperature = 1.0 };
        using var scope = NewDisposeScope();
        var rows = 4000;
        var batch = tensor(logits).unsqueeze(0).repeat(rows, 1).contiguous();
        // Even rows are constrained and sampled; odd rows are greedy and free.
        var samplers = Enumerable.Range(0, rows).Select(i => new TokenSampler(i % 2 == 0 ? options with { Seed = i } : SamplingOptions.Greedy)).ToList();
        var processors = Enumerable.Range(0, rows).Select(i => i % 2 == 0 ? allowed : null).ToList<ILogitsProcessor?>();
        var tokens = new LogitsSampler().Choose(batch, samplers, processors);

        var argMax = Array.IndexOf(logits, logits.Max());
        Assert.DoesNotContain(argMax, allowed.Ids);
        var counts = new int[logits.Length];
        for (var i = 0; i < rows; i++)
            if (i % 2 == 1) Assert.Equal(argMax, tokens[i]);
            else counts[tokens[i]]++;
        var masked = logits.Select((l, t) => allowed.Ids.Contains(t) ? l : float.NegativeInfinity).ToArray();
        Assert.True(Statistics.Fits(counts, Softmax(masked)));
    }

    [Fact]
    public void IdsPastTheValidVocabularyAreNeverChosen()
    {
        var logits = RandomLogits(16, 1.0, seed: 2);
        logits[14] = 50; // the largest logit sits in the padding
        using var scope = NewDisposeScope();
        var tokens = new LogitsSampler(validVocab: 12).Choose(tensor(logits).unsqueeze(0).repeat(200, 1).contiguous(),
            Enumerable.Range(0, 200).Select(i => new TokenSampler(new SamplingOptions { Temperature = 2, Seed = i })).ToList());
        Assert.All(tokens, t => Assert.InRange(t, 0, 11));
    }

    [Fact]
    public void EveryTokenMaskedIsAnError()
    {
        using var scope = NewDisposeScope();
        var sampler = new LogitsSampler();
        Assert.Throws<InvalidOperationException>(() => sampler.Choose(full(new long[] { 1, 8 }, float.NegativeInfinity), [new TokenSampler(new SamplingOptions { Temperature = 1, TopK = 3 })]));
        Assert.Throws<InvalidOperationException>(() => sampler.Choose(full(new long[] { 1, 8 }, float.NegativeInfinity), [new TokenSampler(new SamplingOptions { Temperature = 1 })]));
    }

    [Fact]
    public void DeviceDrawsEqualTheManagedReference()
    {
        var rng = new Random(4);
        var keys = Enumerable.Range(0, 5).Select(i => CounterRandom.Key(rng.NextInt64(), i)).ToArray();
        var ids = Enumerable.Range(0, 5 * 300).Select(_ => (long)rng.Next(200_000)).ToArray();
        using var scope = NewDisposeScope();
        var device = CounterRandom.Uniform(tensor(keys), tensor(ids, [5, 300])).data<double>().ToArray();
        for (var i = 0; i < ids.Length; i++)
            Assert.Equal(CounterRandom.Uniform(keys[i / 300], ids[i]), device[i]);
        Assert.All(device, u => Assert.InRange(u, double.Epsilon, 1 - 1e-17));
        // Roughly uniform: the mean of 1500 draws is within a few standard errors of one half.
        Assert.InRange(device.Average(), 0.5 - 4 * Math.Sqrt(1 / 12.0 / 1500), 0.5 + 4 * Math.Sqrt(1 / 12.0 / 1500));
    }

    [Fact]
    public void ADrawDependsOnlyOnItsOwnSeedAndStepNotOnItsBatchMates()
    {
        var logits = RandomLogits(500, 1.0, seed: 6);
        var mine = new SamplingOptions { Temperature = 0.9, TopK = 50, TopP = 0.9, Seed = 42 };
        var alone = new TokenSampler(mine);
        var expected = Enumerable.Range(0, 30).Select(_ => alone.Sample(logits)).ToList();

        // The same sequence as row 3 of 7, beside greedy, unrestricted and wide-nucleus batch-mates.
        SamplingOptions[] mates = [SamplingOptions.Greedy, new() { Temperature = 1.5 }, new() { Temperature = 0.5, TopP = 0.99 }, new() { Temperature = 1, TopK = 400 }];
        var batched = new TokenSampler(mine);
        var others = Enumerable.Range(0, 6).Select(i => new TokenSampler(mates[i % mates.Length] with { Seed = 100 + i })).ToList();
        var sampler = new LogitsSampler();
        var actual = new List<int>();
        for (var step = 0; step < 30; step++)
        {
            using var scope = NewDisposeScope();
            var rows = others.Take(3).Append(batched).Concat(others.Skip(3)).ToList();
            actual.Add(sampler.Choose(tensor(logits).unsqueeze(0).repeat(rows.Count, 1).contiguous(), rows)[3]);
        }
        Assert.Equal(expected, actual);
        var otherSeed = new TokenSampler(mine with { Seed = 43 });
        Assert.NotEqual(expected, Enumerable.Range(0, 30).Select(_ => otherSeed.Sample(logits)).ToList());
    }

    private sealed class AllowOnly(params int[] ids) : ILogitsProcessor
    {
        public int[] Ids { get; } = ids;
        public void ComputeAllowed(Span<bool> allowed) { foreach (var i in Ids) allowed[i] = true; }
        public void Accept(int tokenId) { }
    }
}
