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
    private float[] _keys = [];
    private int[] _order = [];
    private double[] _probs = [];

    public TokenSampler(SamplingOptions options)
    {
        options.Validate();
        _options = options;
        _random = options.Seed is int seed ? new Random(seed) : new Random();
    }

    public bool IsGreedy => _options.Temperature <= 0;

    /// <summary>Whether the choice depends on earlier output (penalties), which speculative decoding does not model.</summary>
    public bool HasPenalties => _options.FrequencyPenalty != 0 || _options.PresencePenalty != 0;

    /// <summary>Samples from <paramref name="logits"/> (modified in place) and records the choice for penalties.</summary>
    public int Sample(Span<float> logits)
    {
        ApplyPenalties(logits);
        int token;
        if (IsGreedy) token = ArgMax(logits);
        else
        {
            if (_probs.Length != logits.Length) _probs = new double[logits.Length];
            Distribution(logits, _probs);
            token = Draw(_probs);
        }
        Record(token);
        return token;
    }

    /// <summary>Counts a token chosen outside <see cref="Sample"/> (speculative decoding) for the penalties.</summary>
    public void Record(int token) => _counts[token] = _counts.GetValueOrDefault(token) + 1;

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>A uniform draw in [0, 1) from this sequence's generator.</summary>
    public double NextUniform() => _random.NextDouble();

    /// <summary>Draws an index from a (not necessarily normalised) non-negative weight vector.</summary>
    public int Draw(ReadOnlySpan<double> weights)
    {
        double total = 0;
        foreach (var w in weights) total += w;
        if (!(total > 0)) throw new InvalidOperationException("Every token was masked out; nothing can be sampled.");
        var u = _random.NextDouble() * total;
        var last = -1;
        for (var i = 0; i < weights.Length; i++)
        {
            if (weights[i] <= 0) continue;
            last = i;
            u -= weights[i];
            if (u <= 0) return i;
        }
        return last;
    }

    /// <summary>
    /// The sampling distribution over the whole vocabulary after temperature, top-k and top-p (zero outside the
    /// kept candidates, normalised); for greedy sampling, all mass on the arg-max.
    /// </summary>
    public void Distribution(ReadOnlySpan<float> logits, Span<double> probs)
    {
        probs.Clear();
        if (IsGreedy) { probs[ArgMax(logits)] = 1; return; }
        var n = logits.Length;
        if (_keys.Length != n) { _keys = new float[n]; _order = new int[n]; }
        var max = float.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l);
        if (float.IsNegativeInfinity(max)) throw new InvalidOperationException("Every token was masked out; nothing can be sampled.");

        var count = 0;
        for (var i = 0; i < n; i++)
            if (!float.IsNegativeInfinity(logits[i])) _order[count++] = i;
        var order = _order.AsSpan(0, count);
        var k = Math.Min(count, _options.TopK ?? count);
        var filtered = k < count || _options.TopP is < 1.0;
        if (filtered)
        {
            // Candidates in descending order of logit: top-k and top-p keep a prefix of it.
            var keys = _keys.AsSpan(0, count);
            for (var i = 0; i < count; i++) keys[i] = -logits[order[i]];
            keys.Sort(order);
        }
        var invT = 1.0 / _options.Temperature;
        double sum = 0;
        for (var i = 0; i < k; i++) sum += probs[order[i]] = Math.Exp((logits[order[i]] - max) * invT);
        var keep = k;
        if (_options.TopP is { } p and < 1.0)
        {
            double cumulative = 0;
            for (var i = 0; i < k; i++)
            {
                cumulative += probs[order[i]] / sum;
                if (cumulative >= p) { keep = i + 1; break; }
            }
            for (var i = keep; i < k; i++) probs[order[i]] = 0;
            sum = 0;
            for (var i = 0; i < keep; i++) sum += probs[order[i]];
        }
        for (var i = 0; i < keep; i++) probs[order[i]] /= sum;
    }

    private void ApplyPenalties(Span<float> logits)
    {
        if (!HasPenalties) return;
        foreach (var (token, count) in _counts)
            logits[token] -= (float)(_options.FrequencyPenalty * count + _options.PresencePenalty);
    }
}
