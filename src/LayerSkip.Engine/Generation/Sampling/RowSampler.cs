using System.Runtime.CompilerServices;
using System.Numerics;
using System.Runtime.InteropServices;

namespace LayerSkip.Engine.Generation.Sampling;

/// <summary>
/// Chooses one row's token over the logits' own memory on the CPU, without sorting the vocabulary and without
/// allocating once warm: an arg-max, or a draw by inverse transform from softmax(logits / T) restricted to top-k and
/// top-p. At a 128k vocabulary each libtorch op costs more in call overhead than these vectorised passes take.
/// </summary>
/// <remarks>
/// Ranks are by logit, ties by token id. Top-k takes a threshold from a fixed sample of the row, keeps the tokens at
/// or above it (one vectorised pass) and sorts only those. Top-p alone finds its cut with a histogram of the tokens'
/// mass over ranges of logit/T below the maximum, and sorts only the range the cut falls in. The draw inverts one
/// uniform over the kept tokens' cumulative mass (top-k candidates in rank order, a nucleus in id order), so it is
/// a pure function of the row and its uniform.
/// </remarks>
internal sealed class RowSampler
{
    /// <summary>A row whose every token is masked out.</summary>
    public const int Nothing = -2;

    private const int Buckets = 2048;
    /// <summary>The histogram spans logit/T within this of the maximum (weights down to e^−32); below is the last bucket.</summary>
    private const float Span = 32f;
    private const int Block = 1024;
    private const int SampleSize = 1024;
    /// <summary>Weights are exp(−d) with d clamped here (a normal float; masked tokens get exactly 0 instead).</summary>
    private const float MaxExponent = 80f;

    private readonly double[] _mass = new double[Buckets + 1];
    private readonly float[] _sample = new float[SampleSize];
    private float[] _weights = [];
    private int[] _bucketOf = [];
    private double[] _blockMass = [];
    private ulong[] _candidates = [];
    private double[] _candidateWeights = [];

    /// <summary>The arg-max of <paramref name="logits"/> (the first on ties), or <see cref="Nothing"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var max = Max(logits);
        return max == float.NegativeInfinity || float.IsNaN(max) ? Nothing : IndexOf(logits, max);
    }

    /// <summary>The first index holding <paramref name="value"/> (span.IndexOf compares floats one at a time).</summary>
    private static int IndexOf(ReadOnlySpan<float> values, float value)
    {
        var v = new Vector<float>(value);
        var i = 0;
        for (; i + Vector<float>.Count <= values.Length; i += Vector<float>.Count)
            if (Vector.EqualsAny(new Vector<float>(values[i..]), v)) break;
        for (; i < values.Length; i++)
            if (values[i] == value) return i;
        return -1;
    }

    /// <summary>
    /// The token <paramref name="options"/> choose from <paramref name="logits"/> (masked tokens −∞) with the
    /// uniform <paramref name="u"/> in (0, 1); <see cref="Nothing"/> when every token is masked.
    /// </summary>
    public int Choose(ReadOnlySpan<float> logits, SamplingOptions options, double u)
    {
        if (options.Temperature <= 0) return ArgMax(logits);
        var max = Max(logits);
        if (max == float.NegativeInfinity || float.IsNaN(max)) return Nothing;
        var inverseT = 1 / options.Temperature;
        if (options.TopK is { } k) return FromTopK(logits, max, inverseT, k, options.TopP ?? 1.0, u);
        if (options.TopP is { } p and < 1.0) return FromNucleus(logits, max, (float)inverseT, p, u);
        return FromAll(logits, max, (float)inverseT, u);
    }

    /// <summary>An unrestricted draw: the token where the cumulative mass in id order passes u × total.</summary>
    private int FromAll(ReadOnlySpan<float> logits, float max, float inverseT, double u)
    {
        var weights = Scratch(ref _weights, logits.Length);
        var blocks = (logits.Length + Block - 1) / Block;
        var blockMass = Scratch(ref _blockMass, blocks);
        var vmax = new Vector<float>(max);
        var vt = new Vector<float>(inverseT);
        var clamp = new Vector<float>(MaxExponent);
        var minusInfinity = new Vector<float>(float.NegativeInfinity);
        double total = 0;
        for (var b = 0; b < blocks; b++)
        {
            var start = b * Block;
            var end = Math.Min(logits.Length, start + Block);
            var acc = Vector<float>.Zero;
            var i = start;
            for (; i + Vector<float>.Count <= end; i += Vector<float>.Count)
            {
                var l = new Vector<float>(logits[i..]);
                var w = ExpNegative(Vector.Min((vmax - l) * vt, clamp));
                w = Vector.ConditionalSelect(Vector.Equals(l, minusInfinity), Vector<float>.Zero, w);
                w.CopyTo(weights[i..]);
                acc += w;
            }
            double sum = Vector.Sum(acc);
            for (; i < end; i++) sum += weights[i] = Weight(logits[i], max, inverseT);
            total += blockMass[b] = sum;
        }
        return Walk(weights, blockMass, u * total);
    }

    /// <summary>
    /// The first token (id order) at which the cumulative weight passes <paramref name="target"/>, skipping whole
    /// blocks by their mass; the last token with weight when rounding leaves the target past the sum.
    /// </summary>
    private static int Walk(ReadOnlySpan<float> weights, ReadOnlySpan<double> blockMass, double target)
    {
        double cumulative = 0;
        var last = Nothing;
        for (var b = 0; b < blockMass.Length; b++)
        {
            if (blockMass[b] == 0) continue;
            if (cumulative + blockMass[b] <= target) { cumulative += blockMass[b]; last = LastPositive(weights, b); continue; }
            var end = Math.Min(weights.Length, (b + 1) * Block);
            for (var i = b * Block; i < end; i++)
            {
                if (weights[i] == 0) continue;
                last = i;
                if ((cumulative += weights[i]) > target) return i;
            }
        }
        return last;
    }

    private static int LastPositive(ReadOnlySpan<float> weights, int block)
    {
        for (var i = Math.Min(weights.Length, (block + 1) * Block) - 1; i >= block * Block; i--)
            if (weights[i] > 0) return i;
        return Nothing;
    }

    /// <summary>The top k (ties by id), then the smallest prefix holding p of their mass, then a draw from it.</summary>
    private int FromTopK(ReadOnlySpan<float> logits, float max, double inverseT, int k, double p, double u)
    {
        k = Math.Min(k, logits.Length);
        var candidates = TopCandidates(logits, k);
        candidates.Sort();
        if (candidates.Length > k) candidates = candidates[..k];

        // Weights in rank order, into the scratch buffer; keep every candidate whose predecessors hold less than p.
        var weights = Scratch(ref _candidateWeights, candidates.Length);
        double kept = 0;
        for (var j = 0; j < candidates.Length; j++) kept += weights[j] = Math.Exp((logits[Id(candidates[j])] - max) * inverseT);
        var threshold = p * kept;
        double nucleus = 0;
        var n = 0;
        while (n < candidates.Length && nucleus < threshold) nucleus += weights[n++];
        var target = u * nucleus;
        double cumulative = 0;
        for (var j = 0; j < n; j++)
            if ((cumulative += weights[j]) > target) return Id(candidates[j]);
        return Id(candidates[n - 1]);
    }

    /// <summary>
    /// Sort keys of at least min(k, finite tokens) tokens that include the top k: those at or above a threshold
    /// read off a fixed sample of the row, lowered until enough pass (at worst every finite token).
    /// </summary>
    private Span<ulong> TopCandidates(ReadOnlySpan<float> logits, int k)
    {
        var stride = Math.Max(1, logits.Length / SampleSize);
        var sampled = 0;
        for (var i = 0; i < logits.Length && sampled < SampleSize; i += stride) _sample[sampled++] = logits[i];
        var sample = _sample.AsSpan(0, sampled);
        // Twice the expected number of sampled tokens in the top k, and a margin: usually a few hundred candidates.
        var rank = (int)Math.Min(sampled, 2L * k * sampled / logits.Length + 3);
        var sorted = false;
        while (true)
        {
            float threshold;
            if (rank >= sampled) threshold = -float.MaxValue; // every finite token
            else
            {
                if (!sorted && rank > Few) { sample.Sort((a, b) => b.CompareTo(a)); sorted = true; }
                threshold = Math.Max(sorted ? sample[rank - 1] : LargestAt(sample, rank), -float.MaxValue);
            }
            var found = AtOrAbove(logits, threshold);
            if (found.Length >= k || threshold == -float.MaxValue) return found;
            rank *= 4;
        }
    }

    private const int Few = 32;

    /// <summary>The <paramref name="rank"/>-th largest value (rank ≤ <see cref="Few"/>), by insertion into a short list.</summary>
    private static float LargestAt(ReadOnlySpan<float> values, int rank)
    {
        Span<float> top = stackalloc float[Few];
        top[..rank].Fill(float.NegativeInfinity);
        foreach (var v in values)
        {
            if (!(v > top[rank - 1])) continue;
            var j = rank - 1;
            for (; j > 0 && top[j - 1] < v; j--) top[j] = top[j - 1];
            top[j] = v;
        }
        return top[rank - 1];
    }

    /// <summary>Sort keys of the tokens whose logit is at least <paramref name="threshold"/> (finite).</summary>
    private Span<ulong> AtOrAbove(ReadOnlySpan<float> logits, float threshold)
    {
        var n = 0;
        var vt = new Vector<float>(threshold);
        var i = 0;
        for (; i + Vector<float>.Count <= logits.Length; i += Vector<float>.Count)
        {
            if (!Vector.GreaterThanOrEqualAny(new Vector<float>(logits[i..]), vt)) continue;
            for (var j = i; j < i + Vector<float>.Count; j++)
                if (logits[j] >= threshold) Add(ref n, Key(logits[j], j));
        }
        for (; i < logits.Length; i++)
            if (logits[i] >= threshold) Add(ref n, Key(logits[i], i));
        return _candidates.AsSpan(0, n);
    }

    private void Add(ref int n, ulong key)
    {
        if (n == _candidates.Length) Array.Resize(ref _candidates, Math.Max(1024, 2 * n));
        _candidates[n++] = key;
    }

    /// <summary>The smallest set of most likely tokens holding p of the whole mass, and a draw from it.</summary>
    private int FromNucleus(ReadOnlySpan<float> logits, float max, float inverseT, double p, double u)
    {
        // One vectorised pass: each token's weight and bucket (masked tokens to an extra bucket past the last).
        var weights = Scratch(ref _weights, logits.Length);
        var bucketOf = Scratch(ref _bucketOf, logits.Length);
        var vmax = new Vector<float>(max);
        var vt = new Vector<float>(inverseT);
        var perUnit = new Vector<float>(Buckets / Span);
        var last = new Vector<float>(Buckets - 1);
        var masked = new Vector<int>(Buckets);
        var minusInfinity = new Vector<float>(float.NegativeInfinity);
        var clamp = new Vector<float>(MaxExponent);
        var i = 0;
        for (; i + Vector<float>.Count <= logits.Length; i += Vector<float>.Count)
        {
            var l = new Vector<float>(logits[i..]);
            var d = Vector.Min((vmax - l) * vt, clamp);
            var isMasked = Vector.Equals(l, minusInfinity);
            Vector.ConditionalSelect(isMasked, Vector<float>.Zero, ExpNegative(d)).CopyTo(weights[i..]);
            var b = Vector.ConvertToInt32(Vector.Min(d * perUnit, last));
            Vector.ConditionalSelect(Vector.AsVectorInt32(isMasked), masked, b).CopyTo(bucketOf[i..]);
        }
        for (; i < logits.Length; i++)
        {
            var d = MathF.Min((max - logits[i]) * inverseT, MaxExponent);
            weights[i] = Weight(logits[i], max, inverseT);
            bucketOf[i] = logits[i] == float.NegativeInfinity ? Buckets : (int)MathF.Min(d * (Buckets / Span), Buckets - 1);
        }
        Array.Clear(_mass);
        for (i = 0; i < logits.Length; i++) _mass[bucketOf[i]] += weights[i];
        double total = 0;
        for (var b = 0; b < Buckets; b++) total += _mass[b];
        var threshold = p * total;

        // Buckets wholly inside the nucleus, then the one the cut falls in, sorted.
        var cut = 0;
        double above = 0;
        while (cut < Buckets - 1 && above + _mass[cut] < threshold) above += _mass[cut++];
        var boundary = InBucket(logits, bucketOf, cut);
        boundary.Sort();
        var nucleus = above;
        var n = 0;
        while (n < boundary.Length && nucleus < threshold) nucleus += weights[Id(boundary[n++])];

        var target = u * nucleus;
        if (target < above)
        {
            var inside = AboveWalk(weights, bucketOf, cut, target);
            if (inside != Nothing || n == 0) return inside;
        }
        var cumulative = above;
        for (var j = 0; j < n; j++)
            if ((cumulative += weights[Id(boundary[j])]) > target) return Id(boundary[j]);
        return Id(boundary[n - 1]);
    }

    /// <summary>Sort keys of the tokens in one bucket.</summary>
    private Span<ulong> InBucket(ReadOnlySpan<float> logits, ReadOnlySpan<int> bucketOf, int bucket)
    {
        var n = 0;
        var vb = new Vector<int>(bucket);
        var i = 0;
        for (; i + Vector<int>.Count <= bucketOf.Length; i += Vector<int>.Count)
        {
            if (!Vector.EqualsAny(new Vector<int>(bucketOf[i..]), vb)) continue;
            for (var j = i; j < i + Vector<int>.Count; j++)
                if (bucketOf[j] == bucket) Add(ref n, Key(logits[j], j));
        }
        for (; i < bucketOf.Length; i++)
            if (bucketOf[i] == bucket) Add(ref n, Key(logits[i], i));
        return _candidates.AsSpan(0, n);
    }

    /// <summary>
    /// The token in buckets before <paramref name="cut"/> (id order) where their cumulative weight passes
    /// <paramref name="target"/>, blocks summed vectorised; the last such token if rounding leaves it short.
    /// </summary>
    private static int AboveWalk(ReadOnlySpan<float> weights, ReadOnlySpan<int> bucketOf, int cut, double target)
    {
        var vcut = new Vector<int>(cut);
        double cumulative = 0;
        var last = Nothing;
        for (var start = 0; start < weights.Length; start += Block)
        {
            var end = Math.Min(weights.Length, start + Block);
            var acc = Vector<float>.Zero;
            var i = start;
            for (; i + Vector<float>.Count <= end; i += Vector<float>.Count)
            {
                var inside = Vector.AsVectorSingle(Vector.LessThan(new Vector<int>(bucketOf[i..]), vcut));
                acc += Vector.ConditionalSelect(inside, new Vector<float>(weights[i..]), Vector<float>.Zero);
            }
            double mass = Vector.Sum(acc);
            for (; i < end; i++)
                if (bucketOf[i] < cut) mass += weights[i];
            if (mass == 0) continue;
            if (cumulative + mass <= target && end < weights.Length) { cumulative += mass; continue; }
            for (i = start; i < end; i++)
            {
                if (bucketOf[i] >= cut || weights[i] == 0) continue;
                last = i;
                if ((cumulative += weights[i]) > target) return i;
            }
        }
        return last;
    }

    /// <summary>
    /// exp(−d) for d in [0, <see cref="MaxExponent"/>], to about 1e-6 relative: 2^n × e^r with n = round(−d·log2 e) and
    /// |r| ≤ ln2/2 from its degree-6 Taylor polynomial. Several times cheaper than Vector.Exp, which widens to double.
    /// </summary>
    internal static Vector<float> ExpNegative(Vector<float> d)
    {
        var n = Vector.Floor(d * new Vector<float>(-1.442695041f) + new Vector<float>(0.5f));
        // r = −d − n·ln2 with ln2 split in two (Cody–Waite), so r keeps its precision for large n.
        var r = -d - n * new Vector<float>(0.693359375f) - n * new Vector<float>(-2.12194440e-4f);
        var p = new Vector<float>(1f / 720);
        p = p * r + new Vector<float>(1f / 120);
        p = p * r + new Vector<float>(1f / 24);
        p = p * r + new Vector<float>(1f / 6);
        p = p * r + new Vector<float>(0.5f);
        p = p * r + Vector<float>.One;
        p = p * r + Vector<float>.One;
        return Vector.AsVectorSingle(Vector.AsVectorInt32(p) + Vector.ShiftLeft(Vector.ConvertToInt32(n), 23));
    }

    private static float Weight(float logit, float max, float inverseT) =>
        logit == float.NegativeInfinity ? 0f : MathF.Exp(-MathF.Min((max - logit) * inverseT, MaxExponent));

    /// <summary>Ascending key order is descending logit order, ties by ascending id.</summary>
    private static ulong Key(float logit, int id)
    {
        var bits = BitConverter.SingleToUInt32Bits(logit);
        var ascending = (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u; // monotone in the logit
        return ((ulong)~ascending << 32) | (uint)id;
    }

    private static int Id(ulong key) => (int)(uint)key;

    private static Span<T> Scratch<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new T[length];
        return buffer.AsSpan(0, length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Max(ReadOnlySpan<float> values)
    {
        var vs = MemoryMarshal.Cast<float, Vector<float>>(values);
        var acc = new Vector<float>(float.NegativeInfinity);
        foreach (var v in vs) acc = Vector.Max(acc, v);
        var max = float.NegativeInfinity;
        for (var i = 0; i < Vector<float>.Count; i++) max = Math.Max(max, acc[i]);
        for (var i = vs.Length * Vector<float>.Count; i < values.Length; i++) max = Math.Max(max, values[i]);
        return max;
    }
}
