namespace LayerSkip.Engine.Generation;

/// <summary>
/// The costs of speculative decoding as multiples of one plain full-depth step: one draft step, and what each
/// drafted position adds to the verification pass (which otherwise costs about one plain step).
/// </summary>
internal readonly record struct DraftCosts(double Draft, double VerifyPerToken)
{
    /// <summary>A round of k drafts plus its verification pass.</summary>
    public double Round(int k) => k * (Draft + VerifyPerToken) + 1;

    /// <summary>
    /// Expected tokens per unit of plain-step time for k drafts at per-token acceptance a: a round emits
    /// (1 − a^(k+1)) / (1 − a) tokens (the accepted prefix plus one from the verifier). Plain decoding is 1.
    /// </summary>
    public double Gain(double acceptance, int k)
    {
        var a = Math.Clamp(acceptance, 0, 0.999);
        return (1 - Math.Pow(a, k + 1)) / (1 - a) / Round(k);
    }

    /// <summary>The draft length with the best expected gain; 0 (plain decoding) unless drafting beats it by a margin.</summary>
    public int Best(double acceptance, int maxDraftTokens)
    {
        var best = 0;
        var bestGain = 1.03; // drafting must beat plain decoding clearly: the estimates are noisy
        for (var k = 1; k <= maxDraftTokens; k++)
        {
            var gain = Gain(acceptance, k);
            if (gain > bestGain) { best = k; bestGain = gain; }
        }
        return best;
    }
}

/// <summary>
/// One sequence's draft-length controller. It tracks the sequence's own acceptance rate (decayed counts with a
/// uniform prior, so the first probe already moves it) and picks k each round from the current cost model. When
/// drafting does not pay it decodes plainly and probes with one draft token now and then, backing off while the
/// probes keep failing; a probe never comes so soon that its extra cost exceeds 2 % of the plain steps before it.
/// Its choices depend only on its own history and the costs it is given.
/// </summary>
internal sealed class DraftLength
{
    private const double Decay = 0.85;
    private const int FirstProbeInterval = 8, MaxProbeInterval = 256;
    private const double ProbeBudget = 0.02; // the most a failing probe may add to the plain steps it follows
    private readonly int _max;
    private readonly bool _adaptive;
    private double _accepted = 1, _drafted = 2; // prior: a = 0.5
    private int _plainSteps;
    private int _probeInterval = FirstProbeInterval;
    private bool _probing = true; // the first round probes: nothing is known yet

    public DraftLength(int maxDraftTokens, bool adaptive)
    {
        _max = Math.Clamp(maxDraftTokens, 1, 16);
        _adaptive = adaptive;
    }

    public double AcceptanceRate => _accepted / _drafted;

    /// <summary>Tokens to draft in the next round; 0 means a plain full-depth step.</summary>
    public int Next(DraftCosts costs)
    {
        if (!_adaptive) return _max;
        if (_probing) return 1;
        return costs.Best(AcceptanceRate, _max);
    }

    /// <summary>Records a round: <paramref name="drafted"/> tokens drafted (0: a plain step), of which <paramref name="accepted"/> were kept.</summary>
    public void Observe(int drafted, int accepted, DraftCosts costs)
    {
        if (drafted == 0)
        {
            if (++_plainSteps >= Math.Max(_probeInterval, PlainStepsPerProbe(costs))) _probing = true;
            return;
        }
        _accepted = Decay * _accepted + accepted;
        _drafted = Decay * _drafted + drafted;
        if (_probing)
        {
            _probing = false;
            _plainSteps = 0;
            // A probe that shows drafting still does not pay waits twice as long for the next one.
            _probeInterval = costs.Best(AcceptanceRate, _max) == 0 ? Math.Min(2 * _probeInterval, MaxProbeInterval) : FirstProbeInterval;
        }
    }

    /// <summary>
    /// The plain steps a probe must follow so that, if it fails, it costs at most <see cref="ProbeBudget"/> of them:
    /// a probe spends a draft step and a verified position beyond the plain step it replaces.
    /// </summary>
    internal static int PlainStepsPerProbe(DraftCosts costs) =>
        (int)Math.Min(MaxProbeInterval, Math.Ceiling((costs.Round(1) - 1) / ProbeBudget));
}

/// <summary>
/// The measured costs of a speculative group: running medians of the wall times of plain steps, draft steps and
/// verification passes, as ratios to a plain step. Before anything is measured it assumes a draft step costs the
/// plan's share of layers and a verified position a twentieth of a step.
/// </summary>
internal sealed class DraftCostMeter(double layerShare)
{
    private readonly TimeAverage _plain = new(), _draft = new(), _verifyPerToken = new();

    /// <summary>The cost model that ignores timing: used where choices must not depend on the machine or batch-mates.</summary>
    public DraftCosts Static { get; } = new(layerShare, 0.05);

    /// <summary>Whether a plain step has been timed past warm-up: drafting decisions need it.</summary>
    public bool HasPlainTiming => _plain.Warm;

    public DraftCosts Measured => _plain.Value is { } p
        ? new((_draft.Value ?? Static.Draft * p) / p, Math.Max(0, (_verifyPerToken.Value ?? Static.VerifyPerToken * p) / p))
        : Static;

    public void Plain(TimeSpan t) => _plain.Add(t.TotalSeconds);
    public void Draft(TimeSpan t) => _draft.Add(t.TotalSeconds);

    /// <summary>A verification pass over k drafts (k + 1 positions): what it costs beyond a plain step, per draft.</summary>
    public void Verify(TimeSpan t, int k)
    {
        if (_plain.Value is { } p && k > 0) _verifyPerToken.Add((t.TotalSeconds - p) / k);
    }

    /// <summary>
    /// The median of the latest timings: robust to the spikes of a shared machine and to warm-up (the first
    /// timing only stands in until the second arrives).
    /// </summary>
    private sealed class TimeAverage
    {
        private const int Window = 15;
        private readonly Queue<double> _recent = new();
        private bool _warm;

        public double? Value { get; private set; }
        public bool Warm => _warm;

        public void Add(double value)
        {
            if (!_warm && _recent.Count == 1) { _recent.Clear(); _warm = true; }
            _recent.Enqueue(value);
            if (_recent.Count > Window) _recent.Dequeue();
            var sorted = _recent.Order().ToArray();
            Value = sorted[sorted.Length / 2];
        }
    }

    public override string ToString() => $"plain {_plain.Value * 1e3:0.###} ms, draft {_draft.Value * 1e3:0.###} ms, verify +{_verifyPerToken.Value * 1e3:0.###} ms/token: {Measured}";
}
