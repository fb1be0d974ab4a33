using LayerSkip.Engine.Generation;

namespace LayerSkip.Engine.Tests.Generation;

public class DraftLengthTests
{
    [Fact]
    public void DraftingThatCannotPayChoosesPlainDecoding()
    {
        // A draft step as dear as a full step: even perfect agreement gains nothing.
        Assert.Equal(0, new DraftCosts(Draft: 1.0, VerifyPerToken: 0.05).Best(acceptance: 0.95, maxDraftTokens: 6));
        // Cheap drafts that the full model rejects: nothing to gain either.
        Assert.Equal(0, new DraftCosts(Draft: 0.5, VerifyPerToken: 0.05).Best(acceptance: 0.3, maxDraftTokens: 6));
        // The measurement the old fixed rule ignored: k = 4 costing 3.6 steps at 42 % acceptance loses.
        var measured = new DraftCosts(Draft: 0.6, VerifyPerToken: 0.05);
        Assert.True(measured.Gain(0.42, 4) < 1);
        Assert.Equal(0, measured.Best(0.42, 6));
    }

    [Fact]
    public void DraftingThatPaysChoosesTheBestLength()
    {
        var costs = new DraftCosts(Draft: 0.25, VerifyPerToken: 0.02);
        var k = costs.Best(acceptance: 0.8, maxDraftTokens: 8);
        Assert.InRange(k, 1, 8);
        for (var other = 1; other <= 8; other++) Assert.True(costs.Gain(0.8, k) >= costs.Gain(0.8, other));
        Assert.True(costs.Gain(0.8, k) > 1.5);
        // Higher acceptance drafts at least as far.
        Assert.True(costs.Best(0.95, 8) >= k);
    }

    [Fact]
    public void TheControllerStopsDraftingWhenDraftsFailAndProbesAgainLater()
    {
        var costs = new DraftCosts(0.5, 0.05);
        var drafting = new DraftLength(maxDraftTokens: 6, adaptive: true);
        Assert.Equal(1, drafting.Next(costs)); // first round probes
        drafting.Observe(1, 0, costs);
        Assert.Equal(0, drafting.Next(costs));
        var plain = 0;
        while (drafting.Next(costs) == 0 && plain < 1000) drafting.Observe(0, 0, costs); 
        Assert.Equal(1, drafting.Next(costs));
        drafting.Observe(1, 0, costs);
        // The failed probe backs off: the next one comes later than the first did.
        var steps = 0;
        while (drafting.Next(costs) == 0 && steps < 1000) { drafting.Observe(0, 0, costs); steps++; }
        Assert.InRange(steps, 9, 1000 - 1);
    }

    [Fact]
    public void ABatchDraftsOnlyWhenTheRowsThatDraftPayForTheWholeGroup()
    {
        var costs = new DraftCosts(Draft: 0, VerifyPerToken: 0.3);
        Assert.Equal(0.9 + 0.81 + 0.729, DraftCosts.ExpectedAccepted(0.9, 3), 9);
        Assert.Equal(0, DraftCosts.ExpectedAccepted(0.9, 0));
        // One row alone: 2.44 expected kept drafts against 3 × 0.3 drafted positions.
        Assert.True(costs.PaysForGroup([(0.9, 3)], 3));
        // The same row among three that draft nothing: every row pays 0.9 for it, 3.6 against 2.44.
        Assert.False(costs.PaysForGroup([(0.9, 3), (0.5, 0), (0.5, 0), (0.5, 0)], 3));
        // All four drafting alike pays as one row does.
        Assert.True(costs.PaysForGroup([(0.9, 3), (0.9, 3), (0.9, 3), (0.9, 3)], 3));
    }

    [Fact]
    public void CopiedDraftsKeepProbingAtTheBudgetInsteadOfBackingOff()
    {
        // Whether copied drafts agree changes abruptly (output that starts repeating its context agrees from then on),
        // so failed probes do not space out the next ones: each comes as soon as the 2 % budget allows.
        var costs = new DraftCosts(0, 0.3);
        int Gaps(bool backOff)
        {
            var drafting = new DraftLength(maxDraftTokens: 4, adaptive: true, backOff);
            var gaps = new List<int>();
            var plain = 0;
            for (var round = 0; round < 3000; round++)
            {
                var k = drafting.Next(costs);
                if (k == 0) { plain++; drafting.Observe(0, 0, costs); continue; }
                gaps.Add(plain);
                plain = 0;
                drafting.Observe(k, 0, costs);
            }
            return gaps.Skip(3).Max();
        }
        var budget = DraftLength.PlainStepsPerProbe(costs);
        Assert.Equal(budget, Gaps(backOff: false));
        Assert.True(Gaps(backOff: true) > 2 * budget, "model drafts back off while probes fail");
    }

    [Theory]
    [InlineData(0.1, 0.02)]
    [InlineData(0.6, 0.05)]
    [InlineData(1.0, 1.0)]
    public void FailingProbesCostAtMostTwoPercentOfThePlainSteps(double draft, double verifyPerToken)
    {
        var costs = new DraftCosts(draft, verifyPerToken);
        var drafting = new DraftLength(maxDraftTokens: 4, adaptive: true);
        int probes = 0, plain = 0;
        for (var round = 0; round < 5000; round++)
        {
            var k = drafting.Next(costs);
            if (k == 0) plain++; else probes++;
            drafting.Observe(k, 0, costs); // drafts never agree, as with random weights
        }
        // Each probe beyond the first (at the start) spends a draft step and a verified position over a plain step.
        var extra = (probes - 1) * (costs.Round(1) - 1);
        Assert.True(extra <= 0.02 * plain, $"{probes} probes cost {extra:0.0} steps over {plain} plain steps");
        Assert.True(probes >= 5000 / 256 / 2, $"still probes now and then ({probes})");
        // The second probe comes no sooner than the budget allows: later for a dearer draft.
        Assert.True(DraftLength.PlainStepsPerProbe(costs) >= (costs.Round(1) - 1) / 0.02);
    }

    [Fact]
    public void AcceptanceIsEstimatedPerJudgedDraftNotPerDraftedToken()
    {
        // Drafts accepted independently with p = 0.6, four a round: a round stops at its first rejection, so on average
        // only 0.6 + 0.36 + 0.22 + 0.13 = 1.31 of the 4 drafts are accepted. Counting the never-judged drafts after a
        // rejection as failures would estimate 0.33; the per-draft chance the gain formula needs is 0.6.
        var costs = new DraftCosts(0.3, 0.05);
        var drafting = new DraftLength(maxDraftTokens: 4, adaptive: false);
        var rng = new Random(3);
        double sum = 0;
        const int rounds = 4000;
        for (var round = 0; round < rounds; round++)
        {
            var accepted = 0;
            while (accepted < 4 && rng.NextDouble() < 0.6) accepted++;
            drafting.Observe(4, accepted, costs);
            sum += drafting.AcceptanceRate;
        }
        Assert.InRange(sum / rounds, 0.55, 0.65);
    }

    [Fact]
    public void TheControllerDraftsLongerAsDraftsAgree()
    {
        var costs = new DraftCosts(0.3, 0.03);
        var drafting = new DraftLength(maxDraftTokens: 6, adaptive: true);
        for (var round = 0; round < 20; round++)
        {
            var k = drafting.Next(costs);
            drafting.Observe(k, k, costs); // every draft accepted
        }
        Assert.True(drafting.Next(costs) >= 4);
    }

    [Fact]
    public void MeasuredCostsComeFromWholeRoundsAsRatiosToAPlainRound()
    {
        var meter = new DraftCostMeter(layerShare: 0.5);
        Assert.Equal(meter.Static, meter.Measured);
        long now = 0;
        // Each round runs from its start to the next round's start; the meter hears of it when the next one begins.
        void Round(int drafted, double ms)
        {
            meter.BeginRound(drafted, now);
            now += (long)(ms * System.Diagnostics.Stopwatch.Frequency / 1000);
        }
        // The first plain round is warm-up, and so is the first drafting round at each draft length (its verification
        // shape runs for the first time): they are dropped. The prior stands until three drafting rounds count.
        Round(0, 50);
        Round(0, 10);
        Round(4, 90); // a first round at k = 4, which also did one-time work
        Assert.True(meter.HasPlainTiming);
        Round(4, 30);
        Round(4, 30);
        Round(2, 70); // the first round at k = 2: one-time work again
        Assert.Equal(meter.Static.Draft + meter.Static.VerifyPerToken, meter.Measured.Draft, 6);
        Round(4, 30);
        Assert.Equal(meter.Static.Draft + meter.Static.VerifyPerToken, meter.Measured.Draft, 6); // two timed so far
        foreach (var ms in new[] { 11, 9, 400, 10, 10 }) Round(0, ms); // a spike of a shared machine
        Assert.Equal(0.5, meter.Measured.Draft, 6); // (30 − 10) / 4 drafted tokens, over a 10 ms plain round
        Assert.Equal(0, meter.Measured.VerifyPerToken);
        Assert.Equal(1, meter.Measured.Best(0.7, 6));
        // Rounds whose drafted tokens cost nearly a plain round each do not pay.
        for (var i = 0; i < 20; i++) { Round(4, 10 + 4 * 9); Round(0, 10); }
        Assert.Equal(0.9, meter.Measured.Draft, 6);
        Assert.Equal(0, meter.Measured.Best(0.7, 6));
    }

    [Fact]
    public void ASequenceToldTheAcceptanceOfEarlierOnesDraftsFromItsFirstRound()
    {
        var costs = new DraftCosts(0.3, 0.05);
        Assert.Equal(1, new DraftLength(4, adaptive: true).Next(costs)); // a sequence on its own probes with one draft first
        var told = new DraftLength(4, adaptive: true);
        told.StartFrom(0.95);
        Assert.Equal(0.95, told.AcceptanceRate, 6);
        Assert.Equal(4, told.Next(costs));
        // Its own rounds soon outweigh what it was told.
        for (var i = 0; i < 8; i++) told.Observe(4, 0, costs);
        Assert.True(told.AcceptanceRate < 0.2, $"acceptance still {told.AcceptanceRate}");
        Assert.Equal(0, told.Next(costs));
    }
}
