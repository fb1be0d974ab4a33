using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation.Sampling;

/// <summary>
/// What some rows may sample, on the device: candidate token ids and their normalised log-probabilities after
/// temperature, top-k and top-p (−∞ for candidates those exclude). Rows with a top-k or top-p restriction hold
/// their <c>topk</c> candidates in descending order; unrestricted rows hold the whole vocabulary.
/// </summary>
internal sealed class CandidateSet
{
    private CandidateSet(Tensor ids, Tensor logProbs, Tensor? unfit)
    {
        Ids = ids;
        LogProbs = logProbs;
        Unfit = unfit;
    }

    // Long-lived Scalars: a temporary Scalar can be finalised while libtorch still reads it.
    internal static readonly Scalar NegativeInfinity = float.NegativeInfinity.ToScalar();
    private static readonly Scalar Masked = (-2L).ToScalar();
    private static readonly Scalar Unfitted = (-1L).ToScalar();
    private static readonly Scalar Zero = 0.0.ToScalar();

    /// <summary>[rows, K] int64 token ids, or [1, vocab] (every id) for unrestricted rows.</summary>
    public Tensor Ids { get; }
    /// <summary>[rows, K] float32 log-probabilities; they sum to one over each row's kept candidates.</summary>
    public Tensor LogProbs { get; }
    /// <summary>[rows] bool: the row's nucleus reaches past its K candidates (it needs more); null when none can.</summary>
    public Tensor? Unfit { get; }

    /// <summary>Whether every row must consider the whole vocabulary (no top-k, no top-p).</summary>
    public static bool Restricts(SamplingOptions o) => o.TopK is not null || o.TopP is < 1.0;

    /// <summary>
    /// Candidates for sampled rows of <paramref name="logits"/> ([rows, vocab] float32; masked tokens −∞) that all
    /// restrict or all do not (see <see cref="Restricts"/>). A top-p row without top-k normalises over the whole
    /// vocabulary and takes its nucleus from the <paramref name="nucleusCandidates"/> most likely tokens; when the
    /// nucleus is larger, <see cref="Unfit"/> says so and the caller retries with more.
    /// </summary>
    public static CandidateSet Build(Tensor logits, IReadOnlyList<SamplingOptions> options, int nucleusCandidates)
    {
        var vocab = (int)logits.shape[1];
        var device = logits.device;
        var temperature = tensor(options.Select(o => (float)o.Temperature).ToArray(), ScalarType.Float32, device).unsqueeze(1);
        if (!Restricts(options[0]))
        {
            var scaled = logits / temperature;
            return new CandidateSet(Positions(vocab, device).unsqueeze(0), scaled - scaled.logsumexp(1, keepdim: true), null);
        }

        // A positive temperature keeps the order: pick the candidates first, then scale only them.
        var k = options.Max(o => Math.Min(vocab, o.TopK ?? nucleusCandidates));
        var (values, ids) = logits.topk(k, 1, largest: true, sorted: true);
        values = values / temperature;

        // A row's own top-k: candidates ranked at or past it are out (a batch-mate may have asked for more).
        var rowK = tensor(options.Select(o => (long)Math.Min(vocab, o.TopK ?? vocab)).ToArray(), ScalarType.Int64, device).unsqueeze(1);
        values = values.masked_fill(Positions(k, device).unsqueeze(0) >= rowK, NegativeInfinity);

        // Top-p measures mass after top-k (normalised over the kept top-k) or, without top-k, over the whole vocabulary.
        var withoutTopK = options.Select(o => o.TopK is null).ToArray();
        var norm = values.logsumexp(1, keepdim: true);
        if (withoutTopK.Any(w => w))
            norm = where(tensor(withoutTopK, ScalarType.Bool, device).unsqueeze(1), (logits / temperature).logsumexp(1, keepdim: true), norm);
        var logProbs = values - norm;

        Tensor? unfit = null;
        if (options.Any(o => o.TopP is < 1.0))
        {
            var p = tensor(options.Select(o => o.TopP ?? 2.0).ToArray(), ScalarType.Float64, device).unsqueeze(1);
            var probs = logProbs.to(ScalarType.Float64).exp();
            var cumulative = probs.cumsum(1);
            // Keep the smallest prefix whose mass reaches p: every candidate whose predecessors hold less than p.
            var nucleus = (cumulative - probs) < p;
            logProbs = logProbs.masked_fill(nucleus.logical_not(), NegativeInfinity);
            logProbs -= logProbs.logsumexp(1, keepdim: true);
            if (k < vocab && withoutTopK.Any(w => w))
                unfit = tensor(withoutTopK, ScalarType.Bool, device).logical_and(cumulative.select(1, k - 1) < p.squeeze(1));
        }
        return new CandidateSet(ids, logProbs, unfit);
    }

    /// <summary>
    /// As <see cref="Build"/>, growing the candidate count until every nucleus fits (one device-to-host flag per try;
    /// at the whole vocabulary every nucleus fits).
    /// </summary>
    public static CandidateSet BuildFitting(Tensor logits, IReadOnlyList<SamplingOptions> options, int nucleusCandidates)
    {
        var vocab = (int)logits.shape[1];
        while (true)
        {
            var set = Build(logits, options, nucleusCandidates);
            if (set.Unfit is null || !set.Unfit.any().item<bool>()) return set;
            nucleusCandidates = (int)Math.Min(vocab, 8L * nucleusCandidates);
        }
    }

    /// <summary>Rows that each hold one token ([rows] int64) with probability one: a draft that was copied, not drawn.</summary>
    public static CandidateSet PointMass(Tensor tokens) =>
        new(tokens.reshape(-1, 1), zeros([tokens.shape[0], 1], ScalarType.Float32, tokens.device), null);

    /// <summary>
    /// One draw per row with the Gumbel-max trick, the noise a function of (key, token id): [rows] int64 token ids,
    /// −1 for rows whose nucleus did not fit, −2 for rows where every token was masked out.
    /// </summary>
    public Tensor Draw(Tensor keys) => Draw(LogProbs, keys);

    private Tensor Draw(Tensor logWeights, Tensor keys)
    {
        var scores = logWeights.to(ScalarType.Float64) + CounterRandom.Gumbel(keys, Ids);
        var (best, at) = scores.max(1);
        var token = Ids.expand(logWeights.shape).gather(1, at.unsqueeze(1)).squeeze(1);
        token = token.masked_fill(best.isfinite().logical_not(), Masked);
        return Unfit is null ? token : token.masked_fill(Unfit, Unfitted);
    }

    /// <summary>The probability each row gives to <paramref name="tokens"/> ([rows] int64): [rows] float64.</summary>
    public Tensor ProbabilityOf(Tensor tokens) =>
        LogProbs.to(ScalarType.Float64).exp().masked_fill(Ids.ne(tokens.unsqueeze(1)), Zero).sum(1);

    /// <summary>0, 1, …, n − 1 as int64.</summary>
    private static Tensor Positions(long n, Device device)
    {
        using var stop = n.ToScalar();
        return arange(stop, ScalarType.Int64, device);
    }

    /// <summary>Row <paramref name="row"/> alone.</summary>
    public CandidateSet Row(int row) => new(
        Ids.shape[0] == 1 ? Ids : Ids.narrow(0, row, 1),
        LogProbs.narrow(0, row, 1),
        Unfit?.narrow(0, row, 1));

    /// <summary>
    /// For a single-row set: a draw from the normalised residual max(0, p − q), with p these candidates and q
    /// <paramref name="draft"/> (the drafting distribution); from p itself where the residual is all zero.
    /// </summary>
    public Tensor DrawResidual(CandidateSet draft, Tensor key, int vocab)
    {
        var dense = zeros(vocab, ScalarType.Float64, LogProbs.device)
            .scatter_(0, draft.Ids.reshape(-1), draft.LogProbs.to(ScalarType.Float64).exp().reshape(-1));
        var p = LogProbs.to(ScalarType.Float64).exp();
        var q = dense.gather(0, Ids.reshape(-1)).reshape(1, -1);
        var residual = (p - q).clamp_min(Zero);
        var logResidual = where(residual.sum().gt(Zero), residual.log(), LogProbs.to(ScalarType.Float64));
        return Draw(logResidual, key);
    }
}
