using LayerSkip.Engine.Model;

namespace LayerSkip.Engine.Evaluation;

/// <summary>
/// The quality of generated text, judged by the full model: its nats/token on the continuation (teacher-forced
/// after the prompt, all layers) and the share of positions where the continuation equals the full model's own
/// greedy continuation. Teacher-forced perplexity on reference text cannot show a plan whose output collapses.
/// </summary>
public sealed class GeneratedTextQuality
{
    private double _nats;
    private int _scored, _agreed, _compared;

    /// <summary>Mean nats/token the full model assigns to the continuations added so far.</summary>
    public double FullModelNatsPerToken => _scored == 0 ? double.NaN : _nats / _scored;
    /// <summary>Share of positions equal to the full model's greedy continuation (a shorter continuation disagrees past its end).</summary>
    public double Agreement => _compared == 0 ? double.NaN : (double)_agreed / _compared;
    public int Tokens => _scored;

    /// <summary>Scores one continuation (on the engine thread: it runs the model).</summary>
    public void Add(DecoderModel model, IReadOnlyList<int> prompt, IReadOnlyList<int> continuation, IReadOnlyList<int> fullGreedy)
    {
        _agreed += Matches(continuation, fullGreedy);
        _compared += Math.Max(continuation.Count, fullGreedy.Count);
        if (continuation.Count == 0) return;
        var window = prompt.Concat(continuation).ToArray();
        var nll = TeacherForcedScorer.ScoreWindow(model, window, plan: null, contextTokens: window.Length).NegativeLogLikelihoods;
        // nll[i] scores token i + 1: the continuation starts at position prompt.Count.
        for (var i = prompt.Count - 1; i < nll.Length; i++) _nats += nll[i];
        _scored += continuation.Count;
    }

    public static int Matches(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        var n = 0;
        for (var i = 0; i < Math.Min(a.Count, b.Count); i++) if (a[i] == b[i]) n++;
        return n;
    }
}
