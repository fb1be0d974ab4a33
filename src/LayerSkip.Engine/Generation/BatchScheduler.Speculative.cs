using System.Diagnostics;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation;

/// <summary>
/// Self-speculative decoding: the group's layer plan drafts k tokens (cheap: only the kept layers run, over a
/// full-depth prompt cache), then one full-depth pass over the k + 1 positions verifies them. Each row picks its
/// own k from its acceptance rate and the measured step costs (0: a plain step when drafting would not pay). Greedy rows keep the
/// longest prefix the full model agrees with; sampled rows use speculative rejection sampling, so the output has
/// exactly the full model's distribution. Each row then rolls its cache back to what it accepted.
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
        // Each row drafts its own k (never past the sequence limit or what it may still generate); the group
        // runs the longest, and a row ignores the draft steps beyond its own k.
        var ks = new int[b];
        for (var r = 0; r < b; r++)
            ks[r] = Math.Max(0, Math.Min(rows[r].Drafting!.Next(rows[r].CostsFrom(meter)),
                Math.Min(_model.MaxSequenceLength - 1 - starts[r], rows[r].MaxNewTokens - rows[r].Generated - 1)));
        var k = ks.Max();
        // Adaptive groups time a plain step first: the costs are ratios to it.
        var adaptive = rows.Any(s => s.Request.Speculative!.Adaptive);
        if (k == 0 || (adaptive && !meter.HasPlainTiming))
        {
            DecodeOne(group);
            return;
        }

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        try
        {
            var vocab = _model.Config.VocabSize;
            var drafts = new int[b, k];
            var draftProbs = new double[b, k][];
            var input = rows.Select(s => (long)s.LastToken).ToArray();
            for (var i = 0; i < k; i++)
            {
                var clock = Stopwatch.StartNew();
                var logits = _model.Forward(tensor(input, [b, 1], ScalarType.Int64, _model.Device), cache, group.Plan);
                CopyLogits(logits, b * vocab);
                meter.Draft(clock.Elapsed);
                StepObserver?.Invoke(group.Plan, b);
                for (var r = 0; r < b; r++)
                {
                    var row = _logits.AsSpan(r * vocab, vocab);
                    MaskInvalid(row);
                    var sampler = rows[r].Sampler;
                    // Past its own k a row only feeds some token along; it spends none of its random draws.
                    if (sampler.IsGreedy || i >= ks[r]) drafts[r, i] = TokenSampler.ArgMax(row);
                    else
                    {
                        var q = draftProbs[r, i] = new double[vocab];
                        sampler.Distribution(row, q);
                        drafts[r, i] = sampler.Draw(q);
                    }
                    input[r] = drafts[r, i];
                }
            }

            // Verify every row's drafts in one full-depth pass over positions start .. start + k.
            for (var r = 0; r < b; r++) cache.Truncate(r, starts[r]);
            var verifyTokens = new long[b * (k + 1)];
            for (var r = 0; r < b; r++)
            {
                verifyTokens[r * (k + 1)] = rows[r].LastToken;
                for (var i = 0; i < k; i++) verifyTokens[r * (k + 1) + i + 1] = drafts[r, i];
            }
            var verifyClock = Stopwatch.StartNew();
            var verify = _model.Forward(tensor(verifyTokens, [b, k + 1], ScalarType.Int64, _model.Device), cache, null, lastPositionOnly: false);
            CopyLogits(verify, b * (k + 1) * vocab);
            meter.Verify(verifyClock.Elapsed, k);
            StepObserver?.Invoke(LayerPlan.Full(_model.Config.NumLayers), b);

            for (var r = 0; r < b; r++)
            {
                var seq = rows[r];
                var emitted = new List<int>(ks[r] + 1);
                var accepted = 0;
                for (var i = 0; i <= ks[r]; i++)
                {
                    var row = _logits.AsSpan((r * (k + 1) + i) * vocab, vocab);
                    MaskInvalid(row);
                    var bonus = i == ks[r];
                    var (token, agreed) = Verify(seq.Sampler, row, bonus ? -1 : drafts[r, i], bonus ? null : draftProbs[r, i]);
                    emitted.Add(token);
                    if (!agreed) break;
                    accepted++;
                }
                cache.Truncate(r, starts[r] + accepted + 1);
                seq.DraftedTokens += ks[r];
                seq.AcceptedDraftTokens += accepted;
                seq.FullDepthPasses++;
                seq.Drafting!.Observe(ks[r], accepted, seq.CostsFrom(meter));
                for (var j = 0; j < emitted.Count && !seq.Finished; j++)
                {
                    seq.Sampler.Record(emitted[j]);
                    seq.Accept(emitted[j], atMaxLength: starts[r] + j + 2 >= _model.MaxSequenceLength);
                }
            }
        }
        catch (Exception e)
        {
            foreach (var s in rows) s.Finish(FinishReason.Error, e);
        }
    }

    /// <summary>
    /// Checks one drafted token against the full model's logits at its position (or, for the bonus position,
    /// just samples). Returns the token to emit and whether the draft was accepted.
    /// </summary>
    private static (int Token, bool Accepted) Verify(TokenSampler sampler, Span<float> fullLogits, int draft, double[]? draftProbs)
    {
        if (sampler.IsGreedy)
        {
            var best = TokenSampler.ArgMax(fullLogits);
            return (best, draft >= 0 && best == draft);
        }
        var p = new double[fullLogits.Length];
        sampler.Distribution(fullLogits, p);
        if (draft < 0) return (sampler.Draw(p), false);
        // Accept with probability min(1, p/q); otherwise sample from the normalised residual max(0, p − q).
        var q = draftProbs!;
        if (sampler.NextUniform() * q[draft] < p[draft]) return (draft, true);
        var residual = new double[p.Length];
        var any = false;
        for (var i = 0; i < p.Length; i++)
        {
            residual[i] = Math.Max(0, p[i] - q[i]);
            any |= residual[i] > 0;
        }
        return (sampler.Draw(any ? residual : p), false);
    }
}
