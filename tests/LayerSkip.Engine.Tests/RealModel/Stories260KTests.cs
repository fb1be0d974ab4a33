using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tests.Progress;
using LayerSkip.Engine.Training.Routing;
using LayerSkip.Tests;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.RealModel;

/// <summary>The real pretrained stories260K model loaded from ../shared.</summary>
public sealed class Stories260KFixture : IDisposable
{
    public InferenceEngine Engine { get; } = InferenceEngine.Load(new EngineOptions { ModelPath = SharedData.Stories260K, Device = "cpu" });

    public void Dispose() => Engine.Dispose();
}

public class Stories260KTests(Stories260KFixture fx) : IClassFixture<Stories260KFixture>
{
    private async Task<string> GreedyAsync(string prompt, int tokens, LayerPlan? plan = null)
    {
        var tokenizer = fx.Engine.Tokenizer;
        var result = await fx.Engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = tokenizer.Encode(prompt, addBos: true),
            MaxNewTokens = tokens,
            Plan = plan,
        });
        return tokenizer.Decode(result.Tokens);
    }

    [Fact]
    public async Task GreedilyContinuesOnceUponATimeWithTheStoryOfLily()
    {
        var text = await GreedyAsync("Once upon a time", 60);
        Assert.StartsWith(", there was a little girl named Lily.", text);
        Assert.Contains("She loved to play", text);
    }

    [Fact]
    public async Task ScoresAboutOneAndAHalfNatsPerTokenOnTinyStories()
    {
        var tokenizer = fx.Engine.Tokenizer;
        var text = File.ReadAllText(SharedData.Path("data", "tinystories_dev.txt"));
        var tokens = tokenizer.Encode(text[..60_000], addBos: false);
        var windows = TeacherForcedScorer.Windows(tokens, 512, tokenizer.BosTokenId).ToList();
        var nats = await fx.Engine.RunAsync(m => QualityReport.NatsPerToken(m, windows, null, 16, out _));
        Assert.InRange(nats, 1.2, 1.8);
    }

    [Fact]
    public async Task SkippingLayersCostsQualityInProportion()
    {
        // Independent check that plans really change the computation: every skipped layer raises perplexity here,
        // and the paper's Unified plan at r=1.25 (4 of 5 layers) stays far closer to full depth than r=2.5 (2 layers).
        var tokenizer = fx.Engine.Tokenizer;
        var text = File.ReadAllText(SharedData.Path("data", "tinystories_dev.txt"))[..20_000];
        var windows = TeacherForcedScorer.Windows(tokenizer.Encode(text, addBos: false), 256, tokenizer.BosTokenId).ToList();
        var plans = new[] { LayerPlan.Full(5), LayerPlanner.Create(LayerPolicy.Unified, 1.25, 5), LayerPlanner.Create(LayerPolicy.Unified, 2.5, 5) };
        var results = await fx.Engine.RunAsync(m => QualityReport.Compare(m, windows, plans, 16));
        Assert.Equal(1.0, results[0].GreedyAgreement);
        Assert.True(results[0].NatsPerToken < results[1].NatsPerToken);
        Assert.True(results[1].NatsPerToken < results[2].NatsPerToken);
        Assert.True(results[1].GreedyAgreement > results[2].GreedyAgreement);
    }

    [Fact]
    public async Task TheQualityReportCountsScoredWindowsAndHandsOverEachResultWhenMeasured()
    {
        var tokenizer = fx.Engine.Tokenizer;
        var text = File.ReadAllText(SharedData.Path("data", "tinystories_dev.txt"))[..6_000];
        var windows = TeacherForcedScorer.Windows(tokenizer.Encode(text, addBos: false), 128, tokenizer.BosTokenId).ToList();
        var plans = new[] { LayerPlan.Full(5), LayerPlanner.Create(LayerPolicy.Unified, 1.25, 5), LayerPlanner.Create(LayerPolicy.EarlyExit, 2.5, 5) };
        var progress = new RecordedProgress();
        var measured = new List<(QualityResult Result, int ReportsSoFar)>();
        var results = await fx.Engine.RunAsync(m => QualityReport.Compare(m, windows, plans, 16, progress: progress,
            measured: r => measured.Add((r, progress.Reports.Count))));
        // Full depth is scored once (its row reuses those scores), then each skipping plan once per window.
        var total = windows.Count * 3L;
        Assert.Equal(Enumerable.Range(1, (int)total).Select(i => (long)i), progress.Reports.Select(r => r.Done));
        Assert.All(progress.Reports, r => Assert.Equal(total, r.Total));
        Assert.Equal(results, measured.Select(m => m.Result));
        // Each row is handed over as soon as its windows are scored, before the next plan starts.
        Assert.Equal([windows.Count, windows.Count * 2, windows.Count * 3], measured.Select(m => m.ReportsSoFar));
    }

    [Fact]
    public async Task RouterRowsOfTheQualityReportFollowTheRoutersDecisions()
    {
        var tokenizer = fx.Engine.Tokenizer;
        var text = File.ReadAllText(SharedData.Path("data", "tinystories_dev.txt"))[..8_000];
        var windows = TeacherForcedScorer.Windows(tokenizer.Encode(text, addBos: false), 128, tokenizer.BosTokenId).ToList();
        var plans = new[] { LayerPlan.Full(5), LayerPlanner.Create(LayerPolicy.Router, 1, 5) };
        using var all = Routers(runEverything: true);
        using var none = Routers(runEverything: false);
        var everything = await fx.Engine.RunAsync(m => QualityReport.Compare(m, windows, plans, 16, all));
        Assert.Equal(everything[0].NatsPerToken, everything[1].NatsPerToken, 5); // routing every token = full depth
        Assert.Equal(1.0, everything[1].GreedyAgreement);
        Assert.Equal(1.0, all.ExecutionRate);
        var nothing = await fx.Engine.RunAsync(m => QualityReport.Compare(m, windows, plans, 16, none));
        Assert.True(nothing[1].NatsPerToken > nothing[0].NatsPerToken + 1); // skipping every layer after the prompt hurts
        Assert.Equal(0.0, none.ExecutionRate);
    }

    private static LayerRouterSet Routers(bool runEverything)
    {
        var routers = LayerRouterSet.Create(5, 64, budget: 0.5, seed: 1);
        using (no_grad())
        {
            routers.Weight.zero_();
            routers.Bias.fill_(runEverything ? 5.0 : -5.0);
        }
        return routers;
    }
}
