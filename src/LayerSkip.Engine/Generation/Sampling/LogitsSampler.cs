using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation.Sampling;

/// <summary>
/// Chooses the next token of every row of a batch on the logits' own device: grammar masks, penalties, then an
/// arg-max (greedy rows) or a draw after temperature, top-k and top-p (sampled rows). Only the chosen ids come
/// back to the host. A sampled row's draw depends on nothing but its own logits, seed and step, so a seeded
/// request gets the same tokens alone or in any batch.
/// </summary>
public sealed class LogitsSampler
{
    /// <summary>How many candidates a top-p row without top-k starts from; a flatter distribution retries with 8× as many.</summary>
    public const int NucleusCandidates = 256;

    private static readonly TorchSharp.Scalar One = 1.ToScalar();

    private readonly int _validVocab;
    private bool[] _allowed = [];

    /// <param name="validVocab">Ids at or above this are never chosen (padding rows of the LM head).</param>
    public LogitsSampler(int validVocab = int.MaxValue) => _validVocab = validVocab;

    /// <summary>
    /// The next token of each row of <paramref name="logits"/> ([rows, vocab] float32, modified in place), one
    /// sampler per row; <paramref name="processors"/> (optional, one per row, null entries for rows without a
    /// grammar) restrict what a row may choose. Each choice is recorded in its sampler for the penalties.
    /// </summary>
    public int[] Choose(Tensor logits, IReadOnlyList<TokenSampler> samplers, IReadOnlyList<ILogitsProcessor?>? processors = null)
    {
        if (logits.dim() != 2 || logits.shape[0] != samplers.Count)
            throw new ArgumentException($"Expected logits [{samplers.Count}, vocab], got [{string.Join(", ", logits.shape)}].", nameof(logits));
        using var scope = NewDisposeScope();
        var vocab = (int)logits.shape[1];
        if (!logits.is_contiguous()) throw new ArgumentException("The logits must be contiguous.", nameof(logits));
        MaskInvalid(logits);
        if (processors is not null) ApplyGrammars(logits, processors);
        ApplyPenalties(logits, samplers);

        // Greedy rows take the arg-max; sampled rows overwrite their entries with their draws.
        var chosen = samplers.Any(s => s.IsGreedy) ? logits.argmax(1) : zeros(samplers.Count, ScalarType.Int64, logits.device);
        var keys = samplers.Select(s => s.IsGreedy ? 0 : s.NextKey()).ToArray();
        foreach (var rows in SampledSubsets(samplers))
            chosen.index_copy_(0, Index(rows, logits.device), Draw(logits, rows, samplers, keys, NucleusCandidates));
        var ids = chosen.cpu().data<long>().ToArray();

        // Nuclei wider than their candidates: those rows again with more, and the same keys (so the same draw).
        for (var nucleus = 8 * NucleusCandidates; ids.Contains(-1); nucleus = Math.Min(vocab, 8 * nucleus))
        {
            var unfit = Enumerable.Range(0, ids.Length).Where(r => ids[r] == -1).ToArray();
            var again = Draw(logits, unfit, samplers, keys, nucleus).cpu().data<long>().ToArray();
            for (var i = 0; i < unfit.Length; i++) ids[unfit[i]] = again[i];
        }
        if (ids.Contains(-2)) throw new InvalidOperationException("Every token was masked out; nothing can be sampled.");

        var tokens = new int[ids.Length];
        for (var r = 0; r < ids.Length; r++) samplers[r].Record(tokens[r] = (int)ids[r]);
        return tokens;
    }

    /// <summary>Sets ids past the valid vocabulary to −∞ (rows [rows, vocab], in place).</summary>
    public void MaskInvalid(Tensor logits)
    {
        var vocab = logits.shape[^1];
        if (_validVocab < vocab) logits.narrow(-1, _validVocab, vocab - _validVocab).fill_(CandidateSet.NegativeInfinity);
    }

    /// <summary>Rows that are sampled, split by whether they restrict to candidates (top-k/top-p) or use the whole vocabulary.</summary>
    internal static IEnumerable<int[]> SampledSubsets(IReadOnlyList<TokenSampler> samplers)
    {
        var sampled = Enumerable.Range(0, samplers.Count).Where(r => !samplers[r].IsGreedy).ToList();
        var restricted = sampled.Where(r => CandidateSet.Restricts(samplers[r].Options)).ToArray();
        var whole = sampled.Where(r => !CandidateSet.Restricts(samplers[r].Options)).ToArray();
        if (restricted.Length > 0) yield return restricted;
        if (whole.Length > 0) yield return whole;
    }

    internal static Tensor Index(int[] rows, Device device) => tensor(rows.Select(r => (long)r).ToArray(), ScalarType.Int64, device);

    /// <summary>The rows' logits, without a copy when they are all of them in order.</summary>
    internal static Tensor Rows(Tensor logits, int[] rows) =>
        rows.Length == logits.shape[0] && rows.Select((r, i) => r == i).All(x => x) ? logits : logits.index_select(0, Index(rows, logits.device));

    private static Tensor Draw(Tensor logits, int[] rows, IReadOnlyList<TokenSampler> samplers, long[] keys, int nucleus)
    {
        var set = CandidateSet.Build(Rows(logits, rows), rows.Select(r => samplers[r].Options).ToList(), nucleus);
        return set.Draw(tensor(rows.Select(r => keys[r]).ToArray(), ScalarType.Int64, logits.device));
    }

    /// <summary>Each constrained row's allowed-token set, computed on the CPU, applied on the device as one mask.</summary>
    private void ApplyGrammars(Tensor logits, IReadOnlyList<ILogitsProcessor?> processors)
    {
        var rows = Enumerable.Range(0, processors.Count).Where(r => processors[r] is not null).ToArray();
        if (rows.Length == 0) return;
        var vocab = (int)logits.shape[1];
        if (_allowed.Length != rows.Length * vocab) _allowed = new bool[rows.Length * vocab];
        for (var i = 0; i < rows.Length; i++)
        {
            var span = _allowed.AsSpan(i * vocab, vocab);
            span.Clear();
            processors[rows[i]]!.ComputeAllowed(span);
        }
        var forbidden = tensor(_allowed, [rows.Length, vocab]).to(logits.device).logical_not();
        for (var i = 0; i < rows.Length; i++)
            logits.select(0, rows[i]).masked_fill_(forbidden.select(0, i), CandidateSet.NegativeInfinity);
    }

    /// <summary>Frequency and presence penalties: one scatter-add of every penalised row's earlier tokens.</summary>
    private static void ApplyPenalties(Tensor logits, IReadOnlyList<TokenSampler> samplers)
    {
        var vocab = logits.shape[1];
        var index = new List<long>();
        var amount = new List<float>();
        for (var r = 0; r < samplers.Count; r++)
        {
            var o = samplers[r].Options;
            if (!samplers[r].HasPenalties) continue;
            foreach (var (token, count) in samplers[r].Counts)
            {
                index.Add(r * vocab + token);
                amount.Add(-(float)(o.FrequencyPenalty * count + o.PresencePenalty));
            }
        }
        if (index.Count == 0) return;
        logits.view(-1).index_add_(0, tensor(index.ToArray(), ScalarType.Int64, logits.device), tensor(amount.ToArray(), ScalarType.Float32, logits.device), One);
    }
}
