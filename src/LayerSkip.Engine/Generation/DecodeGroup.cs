using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Generation;

/// <summary>Sequences that decode together: they share one layer plan and one KV cache, one row each.</summary>
internal sealed class DecodeGroup : IDisposable
{
    public DecodeGroup(LayerPlan plan) => Plan = plan;

    public LayerPlan Plan { get; }
    public List<SequenceState> Sequences { get; } = new();
    public KvCache? Cache { get; private set; }

    /// <summary>Adds a prefilled sequence; its cache rows join this group's cache (only the plan's layers are kept).</summary>
    public void Join(SequenceState sequence, KvCache prefilled)
    {
        prefilled.KeepOnly(Plan);
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
