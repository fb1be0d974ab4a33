using System.Diagnostics;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation;

/// <summary>A speculative draft: the layers it runs and the precision of the weights it reads.</summary>
public sealed record DraftConfiguration(LayerPlan Plan, WeightFormat Precision)
{
    public override string ToString() =>
        $"{(Plan.IsFullDepth ? "all layers" : $"{Plan.KeptCount}/{Plan.LayerCount} layers ({Plan.Policy}, r = {Plan.TargetSpeedup:0.##})")}, " +
        $"{(Precision == WeightFormat.None ? "model precision" : Precision.ToString().ToLowerInvariant())}";
}

/// <summary>
/// What one draft configuration measured: per-token acceptance against the full model's greedy tokens, the cost of a
/// draft step and of each verified position as multiples of a plain step, the draft length the scheduler's cost model
/// picks for them, and the speedup that model expects (1: plain decoding, which the scheduler falls back to).
/// </summary>
public sealed record DraftCalibrationResult(
    DraftConfiguration Draft,
    double Acceptance,
    double DraftCost,
    double VerifyCostPerToken,
    int DraftTokens,
    double ExpectedSpeedup,
    long ExtraBytes,
    int ScoredTokens);

/// <summary>
/// Picks a draft configuration per model by measurement: for each candidate (a layer plan and a precision), the
/// acceptance of its drafts on the given prompts and the wall-clock cost of its steps on this machine, combined by the
/// cost model speculative decoding uses online (<see cref="DraftCosts"/>).
/// </summary>
public static class DraftCalibration
{
    /// <summary>
    /// Measures every candidate. Acceptance: greedy speculative generation drafting one token per round, so each drafted
    /// token is compared with the full model's token after the same (full model's) prefix: the per-token agreement the
    /// cost model assumes. Costs: batch-1 steps after the first prompt, plain, draft and a verification pass over
    /// <paramref name="maxDraftTokens"/> + 1 positions, interleaved <paramref name="timingRounds"/> times, medians.
    /// </summary>
    public static async Task<IReadOnlyList<DraftCalibrationResult>> MeasureAsync(InferenceEngine engine, IReadOnlyList<IReadOnlyList<int>> prompts,
        IReadOnlyList<DraftConfiguration> candidates, int tokensPerPrompt = 48, int maxDraftTokens = 6, int timingRounds = 12,
        IProgress<DraftCalibrationResult>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (prompts.Count == 0) throw new ArgumentException("At least one prompt is needed.", nameof(prompts));
        if (maxDraftTokens < 1) throw new ArgumentOutOfRangeException(nameof(maxDraftTokens), maxDraftTokens, "At least one token must be drafted.");
        if (timingRounds < 3) throw new ArgumentOutOfRangeException(nameof(timingRounds), timingRounds, "At least three timing rounds are needed.");
        var results = new List<DraftCalibrationResult>();
        foreach (var draft in candidates)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var spec = new SpeculativeOptions { MaxDraftTokens = 1, Adaptive = false, DraftPrecision = draft.Precision };
            var runs = await Task.WhenAll(prompts.Select(p => engine.GenerateAsync(new GenerationRequest
            {
                PromptTokens = p, MaxNewTokens = tokensPerPrompt, StopTokenIds = [], Plan = draft.Plan, Speculative = spec,
            }, cancellationToken)));
            var drafted = runs.Sum(r => r.Summary.DraftedTokens);
            var acceptance = drafted == 0 ? 0 : runs.Sum(r => r.Summary.AcceptedDraftTokens) / (double)drafted;
            var (plain, step, verify) = await engine.RunAsync(m => TimeSteps(m, prompts[0], draft, maxDraftTokens, timingRounds));
            var costs = new DraftCosts(step / plain, Math.Max(0, (verify - plain) / maxDraftTokens));
            var k = costs.Best(acceptance, maxDraftTokens);
            var extra = await engine.RunAsync(m => m.PrepareDraftWeights(draft.Precision));
            var result = new DraftCalibrationResult(draft, acceptance, costs.Draft, costs.VerifyPerToken, k,
                k == 0 ? 1 : costs.Gain(acceptance, k), extra, drafted);
            results.Add(result);
            progress?.Report(result);
        }
        return results;
    }

    /// <summary>The best measured configuration by expected speedup, or null when none beats plain decoding.</summary>
    public static DraftCalibrationResult? Best(IEnumerable<DraftCalibrationResult> results) =>
        results.Where(r => r.DraftTokens > 0).MaxBy(r => r.ExpectedSpeedup);

    /// <summary>Median seconds of a plain step, a draft step and a verification pass over k + 1 positions, at batch 1.</summary>
    private static (double Plain, double Draft, double Verify) TimeSteps(DecoderModel model, IReadOnlyList<int> prompt, DraftConfiguration draft, int k, int rounds)
    {
        using var _ = no_grad();
        model.PrepareDraftWeights(draft.Precision);
        var plan = draft.Plan.IsFullDepth ? null : draft.Plan;
        var length = Math.Min(prompt.Count, model.MaxSequenceLength - k - 2);
        if (length < 1) throw new ArgumentException($"The model's maximum sequence length {model.MaxSequenceLength} leaves no room to time {k} draft tokens.");
        using var cache = model.CreateCache(1, length + k + 1);
        using (NewDisposeScope())
            model.Forward(tensor(prompt.Take(length).Select(t => (long)t).ToArray(), [1, length], ScalarType.Int64, model.Device), cache);
        var token = (long)prompt[length - 1];
        double Time(Func<Tensor> step)
        {
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            step().argmax(-1).cpu(); // the scheduler reads the chosen ids back: include that sync
            var seconds = clock.Elapsed.TotalSeconds;
            cache.Truncate(0, length);
            return seconds;
        }
        var ids = Enumerable.Repeat(token, k + 1).ToArray();
        var plain = new List<double>();
        var steps = new List<double>();
        var verify = new List<double>();
        for (var i = 0; i <= rounds; i++) // round 0 warms up
        {
            var p = Time(() => model.Forward(tensor(new[] { token }, [1, 1], ScalarType.Int64, model.Device), cache));
            var d = Time(() => model.DraftStep(tensor(new[] { token }, [1, 1], ScalarType.Int64, model.Device), cache, plan, draft.Precision));
            var v = Time(() => model.VerifyStep(tensor(ids, [1, k + 1], ScalarType.Int64, model.Device), cache));
            if (i == 0) continue;
            plain.Add(p); steps.Add(d); verify.Add(v);
        }
        return (Median(plain), Median(steps), Median(verify));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}
