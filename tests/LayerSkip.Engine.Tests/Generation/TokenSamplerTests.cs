using LayerSkip.Engine.Generation;

namespace LayerSkip.Engine.Tests.Generation;

public class TokenSamplerTests
{
    private static float[] Logits() => [2.0f, 1.0f, 0.5f, 3.0f, -1.0f, 0.0f];

    [Fact]
    public void GreedyPicksTheArgMax() => Assert.Equal(3, new TokenSampler(SamplingOptions.Greedy).Sample(Logits()));

    [Fact]
    public void TopKOneIsGreedyWhateverTheTemperature()
    {
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 5, TopK = 1, Seed = 1 });
        for (var i = 0; i < 50; i++) Assert.Equal(3, sampler.Sample(Logits()));
    }

    [Fact]
    public void TopPKeepsTheSmallestNucleus()
    {
        // softmax of the logits: token 3 ≈ 0.61, token 0 ≈ 0.22; p = 0.7 keeps exactly {3, 0}.
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 1, TopP = 0.7, Seed = 3 });
        var seen = Enumerable.Range(0, 400).Select(_ => sampler.Sample(Logits())).ToHashSet();
        Assert.Equal(new HashSet<int> { 0, 3 }, seen);
    }

    [Fact]
    public void SampledFrequenciesFollowTheSoftmax()
    {
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 1, Seed = 11 });
        var counts = new int[6];
        const int n = 20000;
        for (var i = 0; i < n; i++) counts[sampler.Sample(Logits())]++;
        var logits = Logits();
        var z = logits.Sum(l => Math.Exp(l));
        for (var t = 0; t < 6; t++)
            Assert.InRange(counts[t] / (double)n, Math.Exp(logits[t]) / z - 0.015, Math.Exp(logits[t]) / z + 0.015);
    }

    [Fact]
    public void PenaltiesDiscourageRepeats()
    {
        var presence = new TokenSampler(new SamplingOptions { PresencePenalty = 10 });
        var picks = Enumerable.Range(0, 6).Select(_ => presence.Sample(Logits())).ToList();
        Assert.Equal(6, picks.Distinct().Count()); // each token once, in order of logit
        Assert.Equal([3, 0, 1, 2, 5, 4], picks);

        var frequency = new TokenSampler(new SamplingOptions { FrequencyPenalty = 0.6 });
        // Token 3 leads by 1.0: it is chosen twice (penalty 0.6, then 1.2) before token 0 wins.
        Assert.Equal([3, 3, 0], Enumerable.Range(0, 3).Select(_ => frequency.Sample(Logits())).ToList());
    }

    [Fact]
    public void MaskedTokensAreNeverSampled()
    {
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 2, Seed = 5 });
        for (var i = 0; i < 200; i++)
        {
            var l = Logits();
            l[3] = float.NegativeInfinity;
            l[0] = float.NegativeInfinity;
            Assert.DoesNotContain(sampler.Sample(l), new[] { 0, 3 });
        }
    }

    [Fact]
    public void InvalidOptionsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(new SamplingOptions { Temperature = double.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(new SamplingOptions { TopP = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(new SamplingOptions { TopK = 0 }));
    }
}
