namespace LayerSkip.Engine.Generation;

/// <summary>
/// Chooses a token from one row of logits on the CPU: penalties, temperature, top-k, top-p, then a draw from
/// the sequence's own seeded generator, so a sequence samples the same tokens whatever it is batched with.
/// </summary>
public sealed class TokenSampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private readonly Dictionary<int, int> _counts = new();
    private float[] _scratch = [];
    private int[] _order = [];

    public TokenSampler(SamplingOptions options)
    {
        options.Validate();
        _options = options;
        _random = options.Seed is int seed ? new Random(seed) : new Random();
    }

    /// <summary>Samples from <paramref name="logits"/> (modified in place) and records the choice for penalties.</summary>
    public int Sample(Span<float> logits)
    {
        ApplyPenalties(logits);
        var token = _options.Temperature <= 0 ? ArgMax(logits) : Draw(logits);
        _counts[token] = _counts.GetValueOrDefault(token) + 1;
        return token;
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    private void ApplyPenalties(Span<float> logits)
    {
        if (_options.FrequencyPenalty == 0 && _options.PresencePenalty == 0) return;
        foreach (var (token, count) in _counts)
            logits[token] -= (float)(_options.FrequencyPenalty * count + _options.PresencePenalty);
    }

    private int Draw(Span<float> logits)
    {
        var n = logits.Length;
        if (_scratch.Length != n) { _scratch = new float[n]; _order = new int[n]; }
        var invT = 1.0 / _options.Temperature;
        var max = float.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l);
        if (float.IsNegativeInfinity(max)) throw new InvalidOperationException("Every token was masked out; nothing can be sampled.");

        // Candidates in descending order of logit; top-k and top-p only ever need a prefix of it.
        var count = 0;
        for (var i = 0; i < n; i++)
            if (!float.IsNegativeInfinity(logits[i])) _order[count++] = i;
        var order = _order.AsSpan(0, count);
        var keys = _scratch.AsSpan(0, count);
        for (var i = 0; i < count; i++) keys[i] = -logits[order[i]];
        var k = Math.Min(count, _options.TopK ?? count);
        if (k < count || _options.TopP is < 1.0)
        {
            keys.Sort(order);
        }

        // Softmax over the first k candidates.
        var probs = new double[k];
        double sum = 0;
        for (var i = 0; i < k; i++) sum += probs[i] = Math.Exp((logits[order[i]] - max) * invT);
        var keep = k;
        if (_options.TopP is { } p and < 1.0)
        {
            double cumulative = 0;
            for (var i = 0; i < k; i++)
            {
                cumulative += probs[i] / sum;
                if (cumulative >= p) { keep = i + 1; break; }
            }
        }
        double total = 0;
        for (var i = 0; i < keep; i++) total += probs[i];
        var u = _random.NextDouble() * total;
        for (var i = 0; i < keep; i++)
        {
            u -= probs[i];
            if (u <= 0) return order[i];
        }
        return order[keep - 1];
    }
}
