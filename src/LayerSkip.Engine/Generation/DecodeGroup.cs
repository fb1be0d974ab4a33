using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Generation;

/// <summary>Sequences that decode together: they share one layer plan and one KV cache, one row each.</summary>
internal sealed class DecodeGroup : IDisposable
{
    /// <param name="draftShare">A speculative group's draft step cost as a share of a plain step before any is timed.</param>
    public DecodeGroup(GroupKey key, double draftShare = 1)
    {
        Key = key;
        if (key.Speculative) Costs = new DraftCostMeter(draftShare);
    }

    public GroupKey Key { get; }
    public LayerPlan Plan => Key.Plan;
    /// <summary>The precision draft steps run at (speculative groups).</summary>
    public WeightFormat DraftPrecision => Key.SpeculativeOptions?.DraftPrecision ?? WeightFormat.None;
    /// <summary>The measured step costs of a speculative group; null for plain decoding.</summary>
    public DraftCostMeter? Costs { get; }
    public List<SequenceState> Sequences { get; } = new();
    public KvCache? Cache { get; private set; }

    /// <summary>Adds a prefilled sequence; its cache rows join this group's cache (only the plan's layers are kept).</summary>
    public void Join(SequenceState sequence, KvCache prefilled)
    {
        // Speculative verification runs every layer, so it keeps the whole cache.
        if (!Key.Speculative) prefilled.KeepOnly(Plan);
        if (Cache is null)
            Cache = prefilled;
        else
        {
            Cache.AppendRows(prefilled);
            prefilled.Dispose();
        }
        Sequences.Add(sequence);
    }

    /// <summary>Drops finished sequences and their cache rows.</summary>
    public void RemoveFinished()
    {
        if (Sequences.All(s => !s.Finished)) return;
        var keep = Enumerable.Range(0, Sequences.Count).Where(i => !Sequences[i].Finished).ToList();
        if (keep.Count == 0)
        {
            Cache?.Dispose();
            Cache = null;
        }
        else Cache!.SelectRows(keep);
        var remaining = keep.Select(i => Sequences[i]).ToList();
        Sequences.Clear();
        Sequences.AddRange(remaining);
    }

    public void Dispose() => Cache?.Dispose();
}

/// <summary>Requests decode together when they share a plan and a decoding mode.</summary>
internal readonly record struct GroupKey(LayerPlan Plan, SpeculativeOptions? SpeculativeOptions, bool Routed)
{
    public bool Speculative => SpeculativeOptions is not null;

    // Plans compare by their layers, so a routed (full-depth) plan needs its own flag to decode apart from full depth.
    public static GroupKey For(SequenceState s) => new(s.Plan, s.Request.Speculative, s.Plan.Policy == LayerPolicy.Router);
}
