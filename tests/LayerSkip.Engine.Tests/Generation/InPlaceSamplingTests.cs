using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Generation.Sampling;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Generation;

/// <summary>
/// The in-place CPU sampler at large vocabularies, where its thresholds, histograms and block walks matter, against
/// the sorted reference of <see cref="LogitsSamplerTests"/>: a grid of uniforms inverts the sampler's distribution
/// exactly (each token takes a share of the grid within one point of its probability), greedy is the exact first
/// arg-max, and a sequence's draws do not depend on its batch-mates.
/// </summary>
public class InPlaceSamplingTests
{
    private const int Points = 10_000;

    /// <summary>How many of <paramref name="points"/> evenly spaced uniforms choose each token.</summary>
    private static int[] Grid(float[] logits, SamplingOptions options, int points = Points)
    {
        var sampler = new RowSampler();
        var counts = new int[logits.Length];
        for (var j = 0; j < points; j++) counts[sampler.Choose(logits, options, (j + 0.5) / points)]++;
        return counts;
    }

    /// <summary>An inverse transform gives each token a run of the grid within one point of its probability.</summary>
    private static void AssertInverts(int[] counts, double[] expected, int points = Points)
    {
        for (var t = 0; t < counts.Length; t++)
        {
            if (expected[t] == 0) Assert.True(counts[t] == 0, $"token {t} is outside the reference support but was chosen {counts[t]} times");
            else Assert.InRange(counts[t], points * expected[t] - 1 - points * 1e-5, points * expected[t] + 1 + points * 1e-5);
        }
    }

    public static TheoryData<int, double, double, int?, double?> LargeVocabularySettings => new()
    {
        // vocabulary, logit scale, temperature, top-k, top-p
        { 50_000, 3.0, 0.8, null, null },
        { 50_000, 3.0, 0.8, 40, null },
        { 50_000, 3.0, 0.8, 40, 0.9 },
        { 50_000, 3.0, 1.0, 700, 0.6 },
        { 50_000, 3.0, 0.8, null, 0.5 },
        { 50_000, 0.5, 1.0, null, 0.95 }, // flat: a nucleus of most of the vocabulary
        { 128_256, 2.0, 0.7, 40, 0.95 },
        { 128_256, 2.0, 0.7, null, 0.9 },
    };

    [Theory]
    [MemberData(nameof(LargeVocabularySettings))]
    public void TheDrawInvertsTheRestrictedSoftmax(int vocab, double scale, double temperature, int? topK, double? topP)
    {
        var logits = LogitsSamplerTests.RandomLogits(vocab, scale, seed: vocab + (int)(10 * scale));
        var options = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP };
        AssertInverts(Grid(logits, options), LogitsSamplerTests.Expected(logits, options));
    }

    [Theory]
    [InlineData(100, null)]
    [InlineData(100, 0.5)]
    [InlineData(null, 0.3)]
    public void TiesAtTheCutRankByTokenId(int? topK, double? topP)
    {
        // Seven distinct values over 5000 tokens: the cut falls inside a group of equal logits.
        var rng = new Random(12);
        var logits = Enumerable.Range(0, 5000).Select(_ => (float)rng.Next(-3, 4)).ToArray();
        var options = new SamplingOptions { Temperature = 1.0, TopK = topK, TopP = topP };
        var expected = LogitsSamplerTests.Expected(logits, options); // a stable sort: ties by ascending id
        Assert.Contains(expected, p => p == 0);
        AssertInverts(Grid(logits, options), expected);
    }

    [Fact]
    public void TopKFindsItsTokensWhenTheFixedSampleMissesThem()
    {
        // The sampled positions (every 48th of 50 000) hold the largest logits: the first threshold admits too few
        // tokens and must be lowered.
        var vocab = 50_000;
        var stride = vocab / 1024;
        var rng = new Random(3);
        var logits = Enumerable.Range(0, vocab).Select(i => (float)(i % stride == 0 ? 10 + rng.NextDouble() : rng.NextDouble())).ToArray();
        var options = new SamplingOptions { Temperature = 0.3, TopK = 200 };
        AssertInverts(Grid(logits, options), LogitsSamplerTests.Expected(logits, options));
    }

    [Theory]
    [InlineData(40, null)]
    [InlineData(40, 0.8)]
    [InlineData(null, 0.8)]
    [InlineData(null, null)]
    public void MaskedTokensAreNeverChosenAndTheRestKeepTheirShares(int? topK, double? topP)
    {
        // Ten allowed tokens out of 30 000 (fewer than top-k), the rest −∞ as a grammar mask leaves them.
        var logits = LogitsSamplerTests.RandomLogits(30_000, 1.0, seed: 4);
        var allowed = new HashSet<int>(Enumerable.Range(0, 10).Select(i => i * 2999 + 7));
        for (var t = 0; t < logits.Length; t++)
            if (!allowed.Contains(t)) logits[t] = float.NegativeInfinity;
        var options = new SamplingOptions { Temperature = 1.0, TopK = topK, TopP = topP };
        AssertInverts(Grid(logits, options), LogitsSamplerTests.Expected(logits, options));
    }

    [Fact]
    public void TheVectorisedExponentialMatchesMathExp()
    {
        var worst = 0.0;
        for (var d = 0.0; d <= 80; d += 0.000731)
        {
            var got = RowSampler.ExpNegative(new System.Numerics.Vector<float>((float)d))[0];
            worst = Math.Max(worst, Math.Abs(got / Math.Exp(-(float)d) - 1));
        }
        Assert.InRange(worst, 0, 1e-6);
    }

    [Fact]
    public void GreedyIsTheFirstArgMaxOfTheValidIds()
    {
        const int vocab = 128_256, valid = 128_000, rows = 6;
        var rng = new Random(21);
        var data = new float[rows * vocab];
        for (var i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 8 - 4);
        data[0 * vocab + 500] = data[0 * vocab + 90_000] = 9f; // a tie: the first wins
        data[1 * vocab + 127_999] = 9f;                          // the last valid id
        data[2 * vocab + 128_100] = 50f;                         // the padding is never chosen
        for (var t = 0; t < vocab; t += 2) data[3 * vocab + t] = float.NegativeInfinity; // half masked
        data[4 * vocab + 3] = float.PositiveInfinity;

        int Reference(int r)
        {
            var best = 0;
            for (var t = 1; t < valid; t++)
                if (data[r * vocab + t] > data[r * vocab + best]) best = t;
            return best;
        }

        foreach (var tensorOps in new[] { false, true })
        {
            using var scope = NewDisposeScope();
            var samplers = Enumerable.Range(0, rows).Select(_ => new TokenSampler(SamplingOptions.Greedy)).ToList();
            var tokens = new LogitsSampler(valid) { TensorOps = tensorOps }.Choose(tensor(data, [rows, vocab]), samplers);
            Assert.Equal(Enumerable.Range(0, rows).Select(Reference), tokens);
        }
        Assert.Equal(500, Reference(0));
    }

    [Fact]
    public void SeededSequencesDrawTheSameTokensAloneAndInAnyBatch()
    {
        const int vocab = 40_000, steps = 6;
        SamplingOptions[] settings =
        [
            new() { Temperature = 0.8 },
            new() { Temperature = 0.8, TopK = 40 },
            new() { Temperature = 0.8, TopP = 0.9 },
            new() { Temperature = 0.8, TopK = 40, TopP = 0.95 },
            new() { Temperature = 1.1, TopK = 50, FrequencyPenalty = 0.5, PresencePenalty = 0.2 },
            SamplingOptions.Greedy,
        ];
        var sequences = Enumerable.Range(0, 16).Select(i => settings[i % settings.Length] with { Seed = 1000 + i }).ToArray();
        // Each sequence sees its own logits at each step, whatever row it occupies.
        float[] LogitsOf(int sequence, int step) => LogitsSamplerTests.RandomLogits(vocab, 2.0, seed: 7919 * sequence + step);

        int[][] Run(int[][] batches)
        {
            var tokens = sequences.Select(_ => new int[steps]).ToArray();
            var samplers = sequences.Select(o => new TokenSampler(o)).ToArray();
            var chooser = new LogitsSampler();
            for (var step = 0; step < steps; step++)
                foreach (var batch in batches)
                {
                    using var scope = NewDisposeScope();
                    var rows = tensor(batch.SelectMany(s => LogitsOf(s, step)).ToArray(), [batch.Length, vocab]);
                    var chosen = chooser.Choose(rows, batch.Select(s => samplers[s]).ToList());
                    for (var r = 0; r < batch.Length; r++) tokens[batch[r]][step] = chosen[r];
                }
            return tokens;
        }

        var alone = Run(Enumerable.Range(0, 16).Select(s => new[] { s }).ToArray());
        Assert.Equal(alone, Run([Enumerable.Range(0, 16).ToArray()]));
        Assert.Equal(alone, Run([[15, 3, 9, 0, 12], [1, 2, 4, 5, 6, 7, 8, 10, 11, 13, 14]]));
        // The draws do depend on the seed: the sampled sequences don't all repeat one token stream.
        Assert.True(alone.Select(t => string.Join(",", t)).Distinct().Count() > 10);
    }
}
