using System.Collections.Concurrent;
using LayerSkip.Engine.Generation.Sampling;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation;

/// <summary>
/// Continuous batching on the engine thread: new requests are prefilled (all layers) and join the decode group
/// of their plan between steps; each step decodes one token for every sequence of every group; finished and
/// cancelled sequences leave at once and free their cache rows.
/// </summary>
internal sealed partial class BatchScheduler : IDisposable
{
    private readonly DecoderModel _model;
    private readonly int _maxBatch;
    private readonly LogitsSampler _sampler;
    private readonly ConcurrentQueue<SequenceState> _incoming = new();
    private readonly Dictionary<GroupKey, DecodeGroup> _groups = new();
    private readonly PrefixCache _prefixes;
    private readonly ILayerRouter? _router;
    private volatile int _decoding; // written by the engine thread, read by any (metrics, callers)

    public BatchScheduler(DecoderModel model, int maxBatchSize, int validVocab, ILayerRouter? router = null,
        long prefixCacheBytes = EngineOptions.DefaultPrefixCacheBytes)
    {
        _model = model;
        _router = router;
        _maxBatch = Math.Max(1, maxBatchSize);
        _sampler = new LogitsSampler(Math.Min(validVocab, model.Config.VocabSize));
        _prefixes = new PrefixCache(maxEntries: prefixCacheBytes > 0 ? 4 : 0, maxBytes: prefixCacheBytes);
    }

    /// <summary>Sequences decoding now plus those waiting to join; safe to read from any thread.</summary>
    public int Pending => _incoming.Count + _decoding;
    public int Waiting => _incoming.Count;

    /// <summary>KV cache bytes held by the decode groups and the prefix cache after the last round; safe to read from any thread.</summary>
    public long KvBytes => Interlocked.Read(ref _kvBytes);
    /// <summary>The most KV cache bytes held at the end of any round so far.</summary>
    public long PeakKvBytes => Interlocked.Read(ref _peakKvBytes);
    private long _kvBytes, _peakKvBytes;

    private void MeasureKv()
    {
        var bytes = _groups.Values.Sum(g => g.Cache?.Bytes ?? 0) + _prefixes.Bytes;
        Interlocked.Exchange(ref _kvBytes, bytes);
        if (bytes > _peakKvBytes) Interlocked.Exchange(ref _peakKvBytes, bytes);
    }

    /// <summary>Observes each decode step: the plan that ran and the batch size.</summary>
    public Action<LayerPlan, int>? StepObserver { get; set; }

    public void Enqueue(SequenceState sequence) => _incoming.Enqueue(sequence);

    /// <summary>One scheduling round; returns false when there is nothing to do.</summary>
    public bool Step()
    {
        Admit();
        _decoding = _groups.Values.Sum(g => g.Sequences.Count);
        if (_groups.Count == 0)
        {
            MeasureKv();
            return _incoming.Count > 0;
        }
        foreach (var group in _groups.Values.ToList())
        {
            if (group.Costs is not null) SpeculativeRound(group);
            else DecodeOne(group);
            group.RemoveFinished();
            if (group.Sequences.Count == 0)
            {
                group.Dispose();
                _groups.Remove(group.Key);
            }
        }
        _decoding = _groups.Values.Sum(g => g.Sequences.Count);
        MeasureKv();
        return true;
    }

    private void Admit()
    {
        var deferred = new List<SequenceState>();
        while (_incoming.TryDequeue(out var seq))
        {
            if (seq.Cancellation.IsCancellationRequested) { seq.Finish(FinishReason.Cancelled); continue; }
            var group = _groups.GetValueOrDefault(GroupKey.For(seq));
            if (group is not null && group.Sequences.Count >= _maxBatch) { deferred.Add(seq); continue; }
            try
            {
                Prefill(seq, group);
            }
            catch (Exception e)
            {
                seq.Finish(FinishReason.Error, e);
            }
        }
        foreach (var seq in deferred) _incoming.Enqueue(seq);
    }

    private void Prefill(SequenceState seq, DecodeGroup? group)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        seq.StartPrefill();
        var prompt = seq.Request.PromptTokens;
        var capacity = Math.Min(_model.MaxSequenceLength, prompt.Count + Math.Min(seq.MaxNewTokens, 256));
        var cache = _prefixes.Lookup(prompt, capacity, out var reused, out var logits) ?? _model.CreateCache(1, capacity);
        seq.ReusedPromptTokens = reused;
        try
        {
            if (logits is null)
            {
                var rest = prompt.Skip(reused).Select(t => (long)t).ToArray();
                logits = _model.Forward(tensor(rest, [1, rest.Length], ScalarType.Int64, _model.Device), cache);
                _prefixes.Store(prompt, cache, logits);
            }
            seq.EndPrefill();
            Choose([seq], logits.reshape(1, -1), [cache.Lengths[0]]);
            if (seq.Finished) { cache.Dispose(); return; }
            if (group is null) _groups[GroupKey.For(seq)] = group = NewGroup(GroupKey.For(seq));
            // A sequence whose drafts may depend on timing starts from the acceptance earlier ones of its kind saw,
            // rather than probing its way up from nothing (a seeded sampled one must not depend on other requests).
            if (seq.DraftsByTiming && _acceptance.TryGetValue(group.Key, out var acceptance)) seq.Drafting?.StartFrom(acceptance);
            group.Join(seq, cache);
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A new decode group; a speculative one gets its draft weights made (once per precision) and its cost prior from
    /// the bytes a draft step streams (plan and precision together) relative to a full step.
    /// </summary>
    private DecodeGroup NewGroup(GroupKey key)
    {
        if (key.SpeculativeOptions is not { } spec) return new DecodeGroup(key);
        if (spec.Drafts == DraftSource.Lookup) return new DecodeGroup(key, draftShare: 0); // a copied draft costs no forward pass
        _model.PrepareDraftWeights(spec.DraftPrecision);
        var full = (double)_model.DraftStreamedBytes(null, WeightFormat.None);
        var plan = key.Plan.IsFullDepth ? null : key.Plan;
        return new DecodeGroup(key, _model.DraftStreamedBytes(plan, spec.DraftPrecision) / full);
    }

    /// <summary>
    /// The latest acceptance rate of a sequence that drafted by timing, per kind of group: kept when its group ends,
    /// for the next request of that kind.
    /// </summary>
    private readonly Dictionary<GroupKey, double> _acceptance = new();

    private void DecodeOne(DecodeGroup group)
    {
        foreach (var s in group.Sequences)
            if (s.Cancellation.IsCancellationRequested) s.Finish(FinishReason.Cancelled);
        group.RemoveFinished();
        if (group.Sequences.Count == 0) return;

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var b = group.Sequences.Count;
        try
        {
            var next = tensor(group.Sequences.Select(s => (long)s.LastToken).ToArray(), [b, 1], ScalarType.Int64, _model.Device);
            // A speculative group between drafting rounds takes plain full-depth steps.
            var plan = group.Plan.IsFullDepth || group.Costs is not null ? null : group.Plan;
            var logits = _model.Forward(next, group.Cache!, plan, router: group.Key.Routed ? _router : null);
            StepObserver?.Invoke(plan ?? LayerPlan.Full(_model.Config.NumLayers), b);
            if (group.Costs is { } costs)
            {
                foreach (var s in group.Sequences)
                {
                    s.FullDepthPasses++;
                    s.Drafting!.Observe(0, 0, s.CostsFrom(costs));
                }
            }
            Choose(group.Sequences, logits.reshape(b, -1), group.Cache!.Lengths);
        }
        catch (Exception e)
        {
            foreach (var s in group.Sequences) s.Finish(FinishReason.Error, e);
        }
    }

    /// <summary>Chooses each row's next token on the device and hands it to its sequence.</summary>
    private void Choose(IReadOnlyList<SequenceState> rows, Tensor logits, IReadOnlyList<int> lengths)
    {
        var processors = rows.Any(s => s.Request.LogitsProcessor is not null) ? rows.Select(s => s.Request.LogitsProcessor).ToList() : null;
        var tokens = _sampler.Choose(logits, rows.Select(s => s.Sampler).ToList(), processors);
        for (var r = 0; r < rows.Count; r++)
            rows[r].Accept(tokens[r], atMaxLength: lengths[r] + 1 >= _model.MaxSequenceLength);
    }

    /// <summary>Ends every sequence (engine shutdown).</summary>
    public void CancelAll()
    {
        while (_incoming.TryDequeue(out var s)) s.Finish(FinishReason.Cancelled);
        foreach (var g in _groups.Values)
        {
            foreach (var s in g.Sequences) s.Finish(FinishReason.Cancelled);
            g.Dispose();
        }
        _groups.Clear();
        _decoding = 0;
        Interlocked.Exchange(ref _kvBytes, _prefixes.Bytes);
    }

    public void Dispose()
    {
        CancelAll();
        _prefixes.Dispose();
    }
}
