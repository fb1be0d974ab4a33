using LayerSkip.Engine.Model;
using LayerSkip.Engine.Progress;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Evaluation;

/// <summary>Perplexity under a plan and how often its greedy choice agrees with the full model's.</summary>
public sealed record QualityResult(LayerPlan Plan, double NatsPerToken, int Tokens, double GreedyAgreement)
{
    public double Perplexity => Math.Exp(NatsPerToken);
}

/// <summary>Runs the teacher-forced comparison of plans against full depth over the same windows.</summary>
public static class QualityReport
{
    public static double NatsPerToken(DecoderModel model, IReadOnlyList<int[]> windows, LayerPlan? plan, int contextTokens, out int tokens,
        IProgress<WorkProgress>? progress = null)
    {
        double total = 0;
        tokens = 0;
        for (var i = 0; i < windows.Count; i++)
        {
            var s = TeacherForcedScorer.ScoreWindow(model, windows[i], plan, contextTokens);
            total += s.NegativeLogLikelihoods.Sum();
            tokens += s.NegativeLogLikelihoods.Length;
            progress?.Report(new WorkProgress(i + 1, windows.Count));
        }
        return total / Math.Max(1, tokens);
    }

    /// <summary>
    /// Scores every plan; agreement counts only positions the plan computes (past the context). A plan of the Router
    /// policy is scored with <paramref name="router"/> deciding per token. <paramref name="progress"/> counts windows
    /// scored (full depth once, then each plan that is not full depth); <paramref name="measured"/> is told each plan's
    /// result as soon as it is known, so a caller can keep it even if a later plan fails or the run is stopped.
    /// </summary>
    public static IReadOnlyList<QualityResult> Compare(DecoderModel model, IReadOnlyList<int[]> windows, IReadOnlyList<LayerPlan> plans, int contextTokens,
        ILayerRouter? router = null, IProgress<WorkProgress>? progress = null, Action<QualityResult>? measured = null)
    {
        long done = 0;
        var total = windows.Count * (1L + plans.Count(p => !p.IsFullDepth || p.Policy == LayerPolicy.Router));
        WindowScore Scored(WindowScore score)
        {
            progress?.Report(new WorkProgress(++done, total));
            return score;
        }
        var full = windows.Select(w => Scored(TeacherForcedScorer.ScoreWindow(model, w, null, contextTokens))).ToList();
        var results = new List<QualityResult>();
        foreach (var plan in plans)
        {
            var routed = plan.Policy == LayerPolicy.Router;
            if (routed && router is null) throw new ArgumentException("A router plan needs the routers to score it.", nameof(router));
            var exact = plan.IsFullDepth && !routed;
            double nll = 0;
            int tokens = 0, compared = 0, agreed = 0;
            for (var i = 0; i < windows.Count; i++)
            {
                var s = exact ? full[i] : Scored(TeacherForcedScorer.ScoreWindow(model, windows[i], routed ? null : plan, contextTokens, routed ? router : null));
                nll += s.NegativeLogLikelihoods.Sum();
                tokens += s.NegativeLogLikelihoods.Length;
                for (var p = exact ? 0 : contextTokens; p < s.GreedyTokens.Length; p++)
                {
                    compared++;
                    if (s.GreedyTokens[p] == full[i].GreedyTokens[p]) agreed++;
                }
            }
            var result = new QualityResult(plan, nll / Math.Max(1, tokens), tokens, compared == 0 ? 1 : (double)agreed / compared);
            results.Add(result);
            measured?.Invoke(result);
        }
        return results;
    }
}
