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

    /// <summary>The expected number of k drafts kept at per-token acceptance a: a + a² + … + a^k.</summary>
    public static double ExpectedAccepted(double acceptance, int k)
    {
        var a = Math.Clamp(acceptance, 0, 0.999);
        return a * (1 - Math.Pow(a, k)) / (1 - a);
    }

    /// <summary>
    /// Whether a round that verifies all <paramref name="rows"/> at k + 1 positions pays for the whole group: the
    /// drafts the rows expect to keep must outweigh the k drafted positions every row pays for, so one row's short
    /// draft does not slow its batch-mates down.
    /// </summary>
    public bool PaysForGroup(IReadOnlyList<(double Acceptance, int Drafts)> rows, int k) =>
        rows.Sum(r => ExpectedAccepted(r.Acceptance, r.Drafts)) > rows.Count * k * (Draft + VerifyPerToken);

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
/// Drafts copied from the context do not back off: whether they agree changes abruptly (output that starts
/// repeating its context agrees from then on), so they keep probing at that budget. Its choices depend only on its
/// own history, the costs it is given and the acceptance it may be told to start from.
/// </summary>
internal sealed class DraftLength
{
    private const double Decay = 0.85;
    private const int FirstProbeInterval = 8, MaxProbeInterval = 256;
    private const double ProbeBudget = 0.02; // the most a failing probe may add to the plain steps it follows
    private readonly int _max;
    private readonly bool _adaptive;
    private readonly bool _backOff;
    private const double PriorWeight = 2; // in judged drafts
    private double _accepted = PriorWeight / 2, _tested = PriorWeight; // prior: a = 0.5
    private int _plainSteps;
    private int _probeInterval = FirstProbeInterval;
    private bool _probing = true; // the first round probes: nothing is known yet

    /// <param name="backOff">Whether failing probes space out the next ones (model drafts) or not (copied drafts).</param>
    public DraftLength(int maxDraftTokens, bool adaptive, bool backOff = true)
    {
        _max = Math.Clamp(maxDraftTokens, 1, 16);
        _adaptive = adaptive;
        _backOff = backOff;
    }

    /// <summary>
    /// The chance that a draft is accepted once every draft before it in the round was: accepted drafts over the drafts
    /// the verifier actually judged (those after the first rejection never were), the quantity the gain formula uses.
    /// </summary>
    public double AcceptanceRate => _accepted / _tested;

    /// <summary>
    /// Starts from an acceptance rate measured on earlier sequences of the same model and draft, in place of the
    /// uniform prior (with the prior's weight, so this sequence's own rounds soon outweigh it), and drafts from the
    /// first round instead of probing.
    /// </summary>
    public void StartFrom(double acceptance)
    {
        _tested = PriorWeight;
        _accepted = PriorWeight * Math.Clamp(acceptance, 0, 1);
        _probing = false;
    }

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
        _tested = Decay * _tested + Math.Min(drafted, accepted + 1);
        if (_probing)
        {
            _probing = false;
            _plainSteps = 0;
            // A probe that shows drafting still does not pay waits twice as long for the next one.
            _probeInterval = _backOff && costs.Best(AcceptanceRate, _max) == 0 ? Math.Min(2 * _probeInterval, MaxProbeInterval) : FirstProbeInterval;
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
/// The measured costs of a speculative group, as ratios to a plain round: running medians of the wall time from the
/// start of one round to the start of the next, for plain rounds and per drafted token for drafting rounds. Whole
/// rounds are timed because that is what a token costs: besides the forward passes a round also chooses tokens,
/// hands them out and schedules (which a small model's plain step pays once per token, a drafting round once per
/// round); and a drafting round's first draft step finds the caches full of the full model's weights. Other groups'
/// rounds in between lengthen both kinds alike, so the difference stays the group's own. Until a kind has been timed
/// past its warm-up it assumes a draft step costs the plan's share of the weights' bytes and a verified position a
/// twentieth of a step: a first round also pays for one-time work, and a cost judged from it alone would stop drafting
/// before a second timing could correct it. The warm-up is the first plain round, and for drafting rounds the first
/// at each draft length (its verification shape runs for the first time).
/// </summary>
internal sealed class DraftCostMeter(double layerShare)
{
    // A drafting round's first few verifications still run cold (buffers, caches): three count before any is trusted.
    private readonly TimeAverage _plain = new(dropFirst: true), _perDraft = new(dropFirst: false, minimum: 3);
    private readonly HashSet<int> _draftLengthsSeen = [];
    private long? _roundStart;
    private int _roundDrafts, _roundsSincePlain;

    /// <summary>Drafting rounds after which a plain round is due, so the plain timing tracks the machine as it is now.</summary>
    private const int PlainRefresh = 8;

    /// <summary>
    /// Whether the group should take a plain round now: every ratio is to a plain round, and one timed only at the
    /// start (often slower, still warming up) would make drafting look cheaper than it is.
    /// </summary>
    public bool PlainIsStale => _roundsSincePlain >= PlainRefresh;

    /// <summary>The cost model that ignores timing: used where choices must not depend on the machine or batch-mates.</summary>
    public DraftCosts Static { get; } = new(layerShare, 0.05);

    /// <summary>Whether a plain round has been timed past warm-up: drafting decisions need it.</summary>
    public bool HasPlainTiming => _plain.Value is not null;

    /// <summary>
    /// The measured costs. Timed online, a drafted token's draft step and its share of the verification are not told
    /// apart: their sum is reported as <see cref="DraftCosts.Draft"/>, which is all the choice of k depends on.
    /// </summary>
    public DraftCosts Measured => _plain.Value is { } p
        ? new(Math.Max(0, _perDraft.Value ?? (Static.Draft + Static.VerifyPerToken) * p) / p, 0)
        : Static;

    /// <summary>Starts a round that drafts <paramref name="drafted"/> tokens (0: a plain step), ending the previous one.</summary>
    public void BeginRound(int drafted) => BeginRound(drafted, System.Diagnostics.Stopwatch.GetTimestamp());

    internal void BeginRound(int drafted, long timestamp)
    {
        if (_roundStart is { } start)
        {
            var seconds = (timestamp - start) / (double)System.Diagnostics.Stopwatch.Frequency;
            if (_roundDrafts == 0) _plain.Add(seconds);
            // A draft length's first round verifies a shape for the first time (kernels and buffers warm up): not timed.
            else if (_plain.Value is { } p && !_draftLengthsSeen.Add(_roundDrafts)) _perDraft.Add((seconds - p) / _roundDrafts);
        }
        _roundStart = timestamp;
        _roundDrafts = drafted;
        _roundsSincePlain = drafted == 0 ? 0 : _roundsSincePlain + 1;
    }

    /// <summary>
    /// The median of the latest timings: robust to the spikes of a shared machine. With <paramref name="dropFirst"/>
    /// the first timing is warm-up and is dropped; there is no value until <paramref name="minimum"/> timings count.
    /// </summary>
    private sealed class TimeAverage(bool dropFirst, int minimum = 1)
    {
        private const int Window = 15;
        private readonly Queue<double> _recent = new();
        private bool _warmedUp = !dropFirst;

        public double? Value { get; private set; }

        public void Add(double value)
        {
            if (!_warmedUp) { _warmedUp = true; return; }
            _recent.Enqueue(value);
            if (_recent.Count > Window) _recent.Dequeue();
            if (_recent.Count < minimum) return;
            var sorted = _recent.Order().ToArray();
            Value = sorted[sorted.Length / 2];
        }
    }

    public override string ToString() => $"plain {_plain.Value * 1e3:0.###} ms, +{_perDraft.Value * 1e3:0.###} ms per drafted token: {Measured}";
}
