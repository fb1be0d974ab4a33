using LayerSkip.Engine.Generation.Sampling;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation;

/// <summary>
/// Speculative decoding: drafts of k tokens, then one full-depth pass over the k + 1 positions verifies them. The
/// drafts come from the model itself (the group's layer plan, possibly at a lower precision: only the kept layers
/// run, over a full-depth prompt cache) or are copied from the context (<see cref="PromptLookup"/>). Greedy rows keep
/// the longest prefix the full model agrees with; sampled rows use speculative rejection sampling, so the output has
/// exactly the full model's distribution; only the drafted tokens' probabilities leave the device. Each row then
/// rolls its cache back to what it accepted. Each row picks its own k from its acceptance rate and the measured
/// step costs (0: a plain step when drafting would not pay).
/// </summary>
internal sealed partial class BatchScheduler
{
    private void SpeculativeRound(DecodeGroup group)
    {
        foreach (var s in group.Sequences)
            if (s.Cancellation.IsCancellationRequested) s.Finish(FinishReason.Cancelled);
        group.RemoveFinished();
        if (group.Sequences.Count == 0) return;

        var cache = group.Cache!;
        var meter = group.Costs!;
        var rows = group.Sequences;
        var b = rows.Count;
        var starts = cache.Lengths.ToArray();
        var lookup = group.Key.SpeculativeOptions!.Drafts == DraftSource.Lookup;
        // Each row drafts its own k (never past the sequence limit or what it may still generate, nor past what its
        // context offers to copy); the group runs the longest, and a row ignores the draft steps beyond its own k.
        var ks = new int[b];
        var copied = new int[b][];
        for (var r = 0; r < b; r++)
        {
            ks[r] = Math.Max(0, Math.Min(rows[r].Drafting!.Next(rows[r].CostsFrom(meter)),
                Math.Min(_model.MaxSequenceLength - 1 - starts[r], rows[r].MaxNewTokens - rows[r].Generated - 1)));
            if (!lookup) continue;
            copied[r] = PromptLookup.Propose(rows[r].History, ks[r]);
            ks[r] = copied[r].Length;
        }
        var k = ks.Max();
        // Adaptive groups time a plain step first, and again now and then: the costs are ratios to it. Rows whose
        // choices must not depend on timing (seeded sampling) keep the group from inserting the extra plain rounds.
        var adaptive = rows.Any(s => s.Request.Speculative!.Adaptive);
        var timingFree = rows.All(s => s.DraftsByTiming || !s.Request.Speculative!.Adaptive);
        // A batch drafts only when it pays for the whole group; seeded sampled rows keep their draft lengths whatever
        // their batch-mates do, so then the group follows the rows' own choices.
        var unprofitable = b > 1 && adaptive && rows.All(s => s.DraftsByTiming) &&
            !meter.Measured.PaysForGroup(rows.Select((s, r) => (s.Drafting!.AcceptanceRate, ks[r])).ToList(), k);
        if (k == 0 || unprofitable || (adaptive && (!meter.HasPlainTiming || (meter.PlainIsStale && timingFree))))
        {
            meter.BeginRound(0);
            DecodeOne(group);
            return;
        }
        meter.BeginRound(k);

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        try
        {
            var vocab = _model.Config.VocabSize;
            var device = _model.Device;
            var samplers = rows.Select(s => s.Sampler).ToList();
            // Sampled rows in at most two sets (top-k/top-p candidates, or the whole vocabulary); greedy rows use arg-max.
            var subsets = LogitsSampler.SampledSubsets(samplers).ToList();
            var (drafts, draftSets) = lookup
                ? CopiedDrafts(copied, ks, k, subsets, device)
                : ModelDrafts(group, ks, k, subsets, samplers);

            // Verify all k drafts of every row in one full-depth pass over positions start .. start + k.
            for (var r = 0; r < b; r++) cache.Truncate(r, starts[r]);
            var verifyTokens = new long[b * (k + 1)];
            for (var r = 0; r < b; r++)
            {
                verifyTokens[r * (k + 1)] = rows[r].LastToken;
                for (var i = 0; i < k; i++) verifyTokens[r * (k + 1) + i + 1] = drafts[r, i];
            }
            var verify = _model.VerifyStep(tensor(verifyTokens, [b, k + 1], ScalarType.Int64, device), cache).reshape(b * (k + 1), -1);
            StepObserver?.Invoke(LayerPlan.Full(_model.Config.NumLayers), b);
            _sampler.MaskInvalid(verify);
            var best = verify.argmax(1).cpu().data<long>().ToArray();

            // Sampled rows: the full model's candidates at every position, and p and q of each draft (the only values copied out).
            var fullSets = new CandidateSet[subsets.Count];
            var p = new double[b, k];
            var q = new double[b, k];
            for (var s = 0; s < subsets.Count; s++)
            {
                var positions = subsets[s].SelectMany(r => Enumerable.Range(r * (k + 1), k + 1)).ToArray();
                fullSets[s] = CandidateSet.BuildFitting(LogitsSampler.Rows(verify, positions),
                    positions.Select(f => samplers[f / (k + 1)].Options).ToList(), LogitsSampler.NucleusCandidates);
                var drafted = positions.Select(f => f % (k + 1) < k ? drafts[f / (k + 1), f % (k + 1)] : 0L).ToArray();
                var pAll = fullSets[s].ProbabilityOf(tensor(drafted, ScalarType.Int64, device)).cpu().data<double>().ToArray();
                for (var i = 0; i < k; i++)
                {
                    var qi = draftSets[s, i].ProbabilityOf(tensor(subsets[s].Select(r => drafts[r, i]).ToArray(), ScalarType.Int64, device)).cpu().data<double>().ToArray();
                    for (var j = 0; j < subsets[s].Length; j++)
                    {
                        q[subsets[s][j], i] = qi[j];
                        p[subsets[s][j], i] = pAll[j * (k + 1) + i];
                    }
                }
            }

            // Greedy rows keep the longest prefix the full model agrees with, plus its next token. Sampled rows accept
            // draft i with probability min(1, p/q); the first rejection draws from the normalised residual max(0, p − q);
            // when all are accepted, the bonus token is drawn from the full model at the last position.
            var emitted = new List<int>[b];
            var accepted = new int[b];
            var finalRows = new List<int>();
            var finalDraws = new List<Tensor>();
            for (var s = 0; s < subsets.Count; s++)
                for (var j = 0; j < subsets[s].Length; j++)
                {
                    var r = subsets[s][j];
                    var sampler = samplers[r];
                    emitted[r] = new List<int>(k + 1);
                    while (accepted[r] < ks[r] && sampler.NextUniform() * q[r, accepted[r]] < p[r, accepted[r]])
                        emitted[r].Add((int)drafts[r, accepted[r]++]);
                    var full = fullSets[s].Row(j * (k + 1) + accepted[r]);
                    var key = tensor(new[] { sampler.NextKey() }, ScalarType.Int64, device);
                    finalRows.Add(r);
                    finalDraws.Add(accepted[r] < ks[r] ? full.DrawResidual(draftSets[s, accepted[r]].Row(j), key, vocab) : full.Draw(key));
                }
            var finals = finalDraws.Count == 0 ? [] : cat(finalDraws).cpu().data<long>().ToArray();
            if (finals.Contains(-2)) throw new InvalidOperationException("Every token was masked out; nothing can be sampled.");
            for (var i = 0; i < finalRows.Count; i++) emitted[finalRows[i]].Add((int)finals[i]);
            for (var r = 0; r < b; r++)
            {
                if (!samplers[r].IsGreedy) continue;
                emitted[r] = new List<int>(k + 1);
                for (var i = 0; i <= ks[r]; i++)
                {
                    var token = (int)best[r * (k + 1) + i];
                    emitted[r].Add(token);
                    if (i == ks[r] || token != drafts[r, i]) break;
                    accepted[r]++;
                }
            }

            for (var r = 0; r < b; r++)
            {
                var seq = rows[r];
                cache.Truncate(r, starts[r] + accepted[r] + 1);
                seq.Drafting!.Observe(ks[r], accepted[r], seq.CostsFrom(meter));
                if (seq.DraftsByTiming && ks[r] > 0)
                {
                    if (_acceptance.Count >= 256 && !_acceptance.ContainsKey(group.Key)) _acceptance.Clear(); // plans made on the fly could add up
                    _acceptance[group.Key] = seq.Drafting.AcceptanceRate;
                }
                seq.DraftedTokens += ks[r];
                seq.AcceptedDraftTokens += accepted[r];
                seq.FullDepthPasses++;
                for (var j = 0; j < emitted[r].Count && !seq.Finished; j++)
                {
                    seq.Sampler.Record(emitted[r][j]);
                    seq.Accept(emitted[r][j], atMaxLength: starts[r] + j + 2 >= _model.MaxSequenceLength);
                }
            }
        }
        catch (Exception e)
        {
            foreach (var s in rows) s.Finish(FinishReason.Error, e);
        }
    }

    /// <summary>
    /// k draft steps of the model under the group's plan and draft precision: each row's drafted ids [b, k] and, per
    /// sampled subset and step, the candidates its draws came from.
    /// </summary>
    private (long[,] Drafts, CandidateSet[,] Sets) ModelDrafts(DecodeGroup group, int[] ks, int k, List<int[]> subsets, List<TokenSampler> samplers)
    {
        var rows = group.Sequences;
        var b = rows.Count;
        var device = _model.Device;
        var drafts = new long[b, k];
        var draftSets = new CandidateSet[subsets.Count, k];
        var input = rows.Select(s => (long)s.LastToken).ToArray();
        for (var i = 0; i < k; i++)
        {
            var logits = _model.DraftStep(tensor(input, [b, 1], ScalarType.Int64, device), group.Cache!, group.Plan.IsFullDepth ? null : group.Plan, group.DraftPrecision).reshape(b, -1);
            StepObserver?.Invoke(group.Plan, b);
            _sampler.MaskInvalid(logits);
            var chosen = logits.argmax(1);
            for (var s = 0; s < subsets.Count; s++)
            {
                var set = draftSets[s, i] = CandidateSet.BuildFitting(LogitsSampler.Rows(logits, subsets[s]), OptionsOf(samplers, subsets[s]), LogitsSampler.NucleusCandidates);
                // Past its own k a row spends none of its random draws: a fixed key, and the draft is ignored.
                chosen.index_copy_(0, LogitsSampler.Index(subsets[s], device), set.Draw(KeysOf(samplers, subsets[s], device, r => i < ks[r])));
            }
            var ids = chosen.cpu().data<long>().ToArray();
            if (ids.Contains(-2)) throw new InvalidOperationException("Every token was masked out; nothing can be sampled.");
            for (var r = 0; r < b; r++) drafts[r, i] = input[r] = ids[r];
        }
        return (drafts, draftSets);
    }

    /// <summary>
    /// Drafts copied from the context: each row's copied ids, padded to k with its last one (positions past a row's
    /// own k are ignored), and for sampled rows a point mass on each, since nothing was drawn: the acceptance test
    /// then keeps a copied token with the full model's probability of it.
    /// </summary>
    private (long[,] Drafts, CandidateSet[,] Sets) CopiedDrafts(int[][] copied, int[] ks, int k, List<int[]> subsets, Device device)
    {
        var b = copied.Length;
        var drafts = new long[b, k];
        for (var r = 0; r < b; r++)
            for (var i = 0; i < k; i++)
                drafts[r, i] = ks[r] == 0 ? 0 : copied[r][Math.Min(i, ks[r] - 1)];
        var draftSets = new CandidateSet[subsets.Count, k];
        for (var s = 0; s < subsets.Count; s++)
            for (var i = 0; i < k; i++)
                draftSets[s, i] = CandidateSet.PointMass(tensor(subsets[s].Select(r => drafts[r, i]).ToArray(), ScalarType.Int64, device));
        return (drafts, draftSets);
    }

    private static List<SamplingOptions> OptionsOf(List<TokenSampler> samplers, int[] rows) => rows.Select(r => samplers[r].Options).ToList();

    /// <summary>Each row's next draw key, as a device tensor.</summary>
    private static Tensor KeysOf(List<TokenSampler> samplers, int[] rows, Device device, Func<int, bool>? draws = null) =>
        tensor(rows.Select(r => draws is null || draws(r) ? samplers[r].NextKey() : 0L).ToArray(), ScalarType.Int64, device);
}
