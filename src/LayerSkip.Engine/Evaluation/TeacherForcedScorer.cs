using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Evaluation;

/// <summary>Next-token log-likelihood and greedy choices of one window, position by position.</summary>
public sealed record WindowScore(double[] NegativeLogLikelihoods, int[] GreedyTokens);

/// <summary>
/// Scores text the way decoding would see it: the first <c>contextTokens</c> positions of a window run every
/// layer (as a prompt's prefill does), the rest run only the plan's layers and attend to that full-depth cache
/// (as decoded tokens do). Teacher forcing makes one pass per window equal to decoding token by token.
/// </summary>
public static class TeacherForcedScorer
{
    public static WindowScore ScoreWindow(DecoderModel model, IReadOnlyList<int> window, LayerPlan? plan, int contextTokens, ILayerRouter? router = null)
    {
        if (window.Count < 2) throw new ArgumentException("A window needs at least two tokens.", nameof(window));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var cache = model.CreateCache(1, window.Count);
        var ids = window.Select(t => (long)t).ToArray();
        Tensor logits;
        if (router is null && (plan is null || plan.IsFullDepth) || contextTokens >= window.Count)
            logits = model.Forward(tensor(ids, [1, ids.Length]), cache, lastPositionOnly: false);
        else
        {
            var c = Math.Max(1, contextTokens);
            var prompt = model.Forward(tensor(ids[..c], [1, c]), cache, lastPositionOnly: false);
            if (plan is not null) cache.KeepOnly(plan);
            var rest = model.Forward(tensor(ids[c..], [1, ids.Length - c]), cache, plan, lastPositionOnly: false, router: router);
            logits = cat([prompt, rest], 1);
        }
        var predicting = logits[0].narrow(0, 0, ids.Length - 1);
        var targets = tensor(ids[1..], ScalarType.Int64);
        var nll = -predicting.log_softmax(-1).gather(1, targets.unsqueeze(1)).squeeze(1);
        var greedy = predicting.argmax(-1);
        return new WindowScore(nll.to(ScalarType.Float64).data<double>().ToArray(), greedy.to(ScalarType.Int32).data<int>().ToArray());
    }

    /// <summary>Splits a token stream into windows of at most <paramref name="windowLength"/>, each starting with BOS when given.</summary>
    public static IEnumerable<int[]> Windows(IReadOnlyList<int> tokens, int windowLength, int? bos)
    {
        var body = bos is null ? windowLength : windowLength - 1;
        if (body < 1) throw new ArgumentOutOfRangeException(nameof(windowLength));
        for (var start = 0; start < tokens.Count; start += body)
        {
            var n = Math.Min(body, tokens.Count - start);
            var w = new List<int>(n + 1);
            if (bos is int b) w.Add(b);
            for (var i = 0; i < n; i++) w.Add(tokens[start + i]);
            if (w.Count >= 2) yield return w.ToArray();
        }
    }
}
