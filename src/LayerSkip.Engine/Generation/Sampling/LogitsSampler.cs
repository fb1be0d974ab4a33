using LayerSkip.Engine.Model.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation.Sampling;

/// <summary>
/// Chooses the next token of every row of a batch on the logits' own device: grammar masks, penalties, then an
/// arg-max (greedy rows) or a draw after temperature, top-k and top-p (sampled rows). Only the chosen ids come
/// back to the host. A sampled row's draw depends on nothing but its own logits, seed and step, so a seeded
/// request gets the same tokens alone or in any batch.
/// </summary>
/// <remarks>
/// CPU logits are read in place by <see cref="RowSampler"/> (a few vectorised passes per row, no sort of the
/// vocabulary, no allocation); logits on another device go through libtorch ops (<see cref="CandidateSet"/>).
/// Both draw from the same distribution, with different random draws for the same seed; sampled self-speculative
/// sequences always take the second path (see <see cref="TokenSampler.DrawsFromCandidateSets"/>).
/// </remarks>
public sealed class LogitsSampler
{
    /// <summary>How many candidates a top-p row without top-k starts from; a flatter distribution retries with 8× as many.</summary>
    public const int NucleusCandidates = 256;

    private static readonly TorchSharp.Scalar One = 1.ToScalar();

    private readonly int _validVocab;
    private readonly RowSampler _rowSampler = new();
    private bool[] _allowed = [];

    /// <param name="validVocab">Ids at or above this are never chosen (padding rows of the LM head).</param>
    public LogitsSampler(int validVocab = int.MaxValue) => _validVocab = validVocab;

    /// <summary>
    /// Chooses CPU logits with libtorch ops as on other devices instead of reading them in place (for comparisons;
    /// the draws differ from the default path's for the same seed).
    /// </summary>
    public bool TensorOps { get; init; }

    /// <summary>
    /// The next token of each row of <paramref name="logits"/> ([rows, vocab] float32, modified in place), one
    /// sampler per row; <paramref name="processors"/> (optional, one per row, null entries for rows without a
    /// grammar) restrict what a row may choose. Each choice is recorded in its sampler for the penalties.
    /// </summary>
    public int[] Choose(Tensor logits, IReadOnlyList<TokenSampler> samplers, IReadOnlyList<ILogitsProcessor?>? processors = null)
    {
        if (logits.dim() != 2 || logits.shape[0] != samplers.Count)
            throw new ArgumentException($"Expected logits [{samplers.Count}, vocab], got [{string.Join(", ", logits.shape)}].", nameof(logits));
        if (!logits.is_contiguous()) throw new ArgumentException("The logits must be contiguous.", nameof(logits));
        if (!TensorOps && logits.device_type == DeviceType.CPU && logits.dtype == ScalarType.Float32 &&
            !samplers.Any(s => s.DrawsFromCandidateSets && !s.IsGreedy))
            return ChooseInPlace(logits, samplers, processors);
        using var scope = NewDisposeScope();
        var vocab = (int)logits.shape[1];
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

    /// <summary>
    /// <see cref="Choose"/> over the memory of CPU logits, row by row: the grammar mask and penalties written into the
    /// row, then <see cref="RowSampler"/> over its valid ids.
    /// </summary>
    private unsafe int[] ChooseInPlace(Tensor logits, IReadOnlyList<TokenSampler> samplers, IReadOnlyList<ILogitsProcessor?>? processors)
    {
        var vocab = (int)logits.shape[1];
        var valid = Math.Min(vocab, _validVocab);
        var data = (float*)TensorMemory.Pointer(logits);
        var tokens = new int[samplers.Count];
        for (var r = 0; r < samplers.Count; r++)
        {
            var row = new Span<float>(data + (long)r * vocab, vocab);
            if (processors?[r] is { } grammar) Mask(row, grammar);
            var sampler = samplers[r];
            if (sampler.HasPenalties)
                foreach (var (token, count) in sampler.Counts)
                    row[token] += -(float)(sampler.Options.FrequencyPenalty * count + sampler.Options.PresencePenalty);
            tokens[r] = sampler.IsGreedy
                ? RowSampler.ArgMax(row[..valid])
                : _rowSampler.Choose(row[..valid], sampler.Options, CounterRandom.Uniform(sampler.NextKey(), 0));
        }
        if (tokens.Contains(RowSampler.Nothing)) throw new InvalidOperationException("Every token was masked out; nothing can be sampled.");
        for (var r = 0; r < tokens.Length; r++) samplers[r].Record(tokens[r]);
        return tokens;
    }

    /// <summary>Sets the tokens <paramref name="grammar"/> does not allow to −∞ in one row.</summary>
    private void Mask(Span<float> row, ILogitsProcessor grammar)
    {
        if (_allowed.Length < row.Length) _allowed = new bool[row.Length];
        var allowed = _allowed.AsSpan(0, row.Length);
        allowed.Clear();
        grammar.ComputeAllowed(allowed);
        for (var i = 0; i < row.Length; i++)
            if (!allowed[i]) row[i] = float.NegativeInfinity;
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
