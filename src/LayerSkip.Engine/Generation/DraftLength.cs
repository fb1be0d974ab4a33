namespace LayerSkip.Engine.Generation;

/// <summary>
/// Chooses how many tokens to draft per verification pass from the running acceptance rate a. With draft cost
/// f (the plan's share of layers) and a verification pass costing about one full step, k drafts yield
/// (1 − a^(k+1)) / (1 − a) tokens for k·f + 1 steps of work; the best k maximises that ratio, and k = 0
/// (plain full-depth decoding) wins when drafting does not pay. A plain phase re-probes drafting now and then.
/// </summary>
internal sealed class DraftLength
{
    private readonly int _max;
    private readonly bool _adaptive;
    private readonly double _draftCost;
    private double _acceptance = 0.7; // optimistic start: try drafting first
    private int _plainSteps;

    public DraftLength(int maxDraftTokens, bool adaptive, double draftCost)
    {
        _max = Math.Clamp(maxDraftTokens, 1, 16);
        _adaptive = adaptive;
        _draftCost = draftCost;
        Current = _max;
    }

    /// <summary>Tokens to draft in the next round; 0 means a plain full-depth step.</summary>
    public int Current { get; private set; }

    public double AcceptanceRate => _acceptance;

    public void Observe(int drafted, int accepted)
    {
        if (!_adaptive) return;
        if (drafted > 0) _acceptance = 0.8 * _acceptance + 0.2 * ((double)accepted / drafted);
        Current = Best();
        if (Current == 0) _plainSteps = 0;
    }

    /// <summary>After a plain step: every 16 of them, probe with one draft token to refresh the estimate.</summary>
    public void ObservePlainStep()
    {
        if (++_plainSteps % 16 == 0) Current = 1;
    }

    private int Best()
    {
        var best = 0;
        var bestValue = 1.0;
        for (var k = 1; k <= _max; k++)
        {
            var a = Math.Min(_acceptance, 0.999);
            var value = (1 - Math.Pow(a, k + 1)) / (1 - a) / (k * _draftCost + 1);
            if (value > bestValue * 1.02) { best = k; bestValue = value; }
        }
        return best;
    }
}
