using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// A few queries, each attending over the first positions of one cache row, read in place from a
/// [batch, kvHeads, capacity, headDim] cache tensor. Grouped-query attention needs no copy: the query heads of a group
/// read the same key/value head. Causality is in the lengths: a chunk's j-th token sees its row up to itself.
/// </summary>
/// <remarks>
/// Reading the cache is most of a decode step's attention: its one query does a few instructions per key or value row.
/// So the queries that read one key/value head (a verification chunk's tokens, a group's query heads) run one after
/// another, the first reading the head's rows from memory (asking for those ahead) and the others finding them in the
/// cache; and the heads are split over the threads once there are enough bytes to read. Each query's sums run in an
/// order fixed by its own length, so a token gets the same bits in a verification as in its own decode step.
/// </remarks>
internal static unsafe class CachedAttention
{
    /// <summary>Below this many cache bytes to read, waking the workers costs more than it saves.</summary>
    private const long ParallelBytes = 64 << 10;

    /// <summary>Positions ahead of the one being read whose rows are asked for.</summary>
    private const int PrefetchRows = 16;

    /// <summary>
    /// For every query i and head: softmax(q · Kᵀ · scale) · V over positions [0, lengths[i]) of cache row
    /// cacheRows[i]. <paramref name="queries"/> and <paramref name="output"/> are [queries, heads · headDim];
    /// <paramref name="scores"/> is scratch for queries · heads · max(lengths) floats.
    /// </summary>
    public static void Attend(float* queries, FloatMemory keys, FloatMemory values, int[] cacheRows, int[] lengths, int kvHeads, int groups,
        int capacity, int headDim, float scale, float* scores, float* output, RowParallel threads)
    {
        var heads = kvHeads * groups;
        var longest = lengths.Max();
        // Runs of consecutive tokens in one cache row (a chunk) read the same heads.
        var runs = new List<(int First, int Count)>();
        long bytes = 0;
        for (var i = 0; i < lengths.Length;)
        {
            var (end, reach) = (i + 1, lengths[i]);
            for (; end < lengths.Length && cacheRows[end] == cacheRows[i]; end++) reach = Math.Max(reach, lengths[end]);
            runs.Add((i, end - i));
            bytes += 2L * reach * kvHeads * headDim * (keys.BFloat16 ? 2 : 4);
            i = end;
        }

        void Run(int start, int end)
        {
            for (var item = start; item < end; item++)
            {
                var (first, count) = runs[item / kvHeads];
                var g = item % kvHeads;
                var cacheRow = ((long)cacheRows[first] * kvHeads + g) * capacity * headDim;
                void* keyRows = keys.Offset(cacheRow).Data, valueRows = values.Offset(cacheRow).Data;
                for (var i = first; i < first + count; i++)
                    for (var j = 0; j < groups; j++)
                    {
                        var h = (long)i * heads + g * groups + j;
                        float* q = queries + h * headDim, s = scores + h * longest, o = output + h * headDim;
                        if (keys.BFloat16) Head<Bf16Rows>(q, keyRows, valueRows, lengths[i], headDim, scale, s, o);
                        else Head<F32Rows>(q, keyRows, valueRows, lengths[i], headDim, scale, s, o);
                    }
            }
        }
        var items = runs.Count * kvHeads;
        if (bytes < ParallelBytes || items < 2) Run(0, items);
        else threads.For(items, 1, Run);
    }

    /// <summary>One query against one key/value head's first <paramref name="length"/> positions.</summary>
    private static void Head<TRows>(float* q, void* keys, void* values, int length, int headDim, float scale, float* scores, float* output)
        where TRows : struct, IRows
    {
        Scores<TRows>(q, (byte*)keys, length, headDim, scale, scores);
        VectorMath.Softmax(scores, length);
        Weighted<TRows>(scores, (byte*)values, length, headDim, output);
    }

    /// <summary>
    /// scores[t] = q · key t · scale for t &lt; length. Each position's sum runs in one order (sixteen-lane partial sums
    /// along the row, then <see cref="Sum"/>, then the tail) whether it is computed in a block of four or alone.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores<TRows>(float* q, byte* keys, int length, int headDim, float scale, float* scores) where TRows : struct, IRows
    {
        var rowBytes = headDim * TRows.ElementSize;
        var vectors = KernelIsa.Vector512 ? headDim / 16 * 16 : 0; // elements done sixteen at a time; the rest one by one
        var prefetch = Prefetch.Enabled; // read before the loops (see Prefetch)
        var t = 0;
        if (vectors == headDim)
            for (; t + 4 <= length; t += 4)
            {
                // Four positions at once: four independent chains of fused multiply-adds.
                var k0 = keys + (long)t * rowBytes;
                byte* k1 = k0 + rowBytes, k2 = k1 + rowBytes, k3 = k2 + rowBytes;
                if (prefetch) Ahead(k0, rowBytes, 4);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (var i = 0; i < vectors; i += 16)
                {
                    var qv = Vector512.Load(q + i);
                    a0 = Vector512.FusedMultiplyAdd(qv, TRows.Load16(k0, i), a0);
                    a1 = Vector512.FusedMultiplyAdd(qv, TRows.Load16(k1, i), a1);
                    a2 = Vector512.FusedMultiplyAdd(qv, TRows.Load16(k2, i), a2);
                    a3 = Vector512.FusedMultiplyAdd(qv, TRows.Load16(k3, i), a3);
                }
                scores[t] = Sum(a0) * scale;
                scores[t + 1] = Sum(a1) * scale;
                scores[t + 2] = Sum(a2) * scale;
                scores[t + 3] = Sum(a3) * scale;
            }
        for (; t < length; t++)
        {
            var key = keys + (long)t * rowBytes;
            if (prefetch) Ahead(key, rowBytes);
            var sum = 0f;
            if (vectors > 0)
            {
                var acc = Vector512<float>.Zero;
                for (var i = 0; i < vectors; i += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(q + i), TRows.Load16(key, i), acc);
                sum = Sum(acc);
            }
            for (var i = vectors; i < headDim; i++) sum += q[i] * TRows.Element(key, i);
            scores[t] = sum * scale;
        }
    }

    /// <summary>
    /// output = Σ_t p[t] · value t for t &lt; length, each element summed over t in order. Sixty-four elements at a time
    /// stay in registers through the positions; other head sizes accumulate in memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Weighted<TRows>(float* p, byte* values, int length, int headDim, float* output) where TRows : struct, IRows
    {
        var rowBytes = headDim * TRows.ElementSize;
        var prefetch = Prefetch.Enabled;
        if (KernelIsa.Vector512 && headDim % 64 == 0)
        {
            for (var c = 0; c < headDim; c += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                var row = values + c * TRows.ElementSize;
                for (var t = 0; t < length; t++, row += rowBytes)
                {
                    if (prefetch && c == 0) Ahead(row, rowBytes);
                    var pv = Vector512.Create(p[t]);
                    a0 = Vector512.FusedMultiplyAdd(pv, TRows.Load16(row, 0), a0);
                    a1 = Vector512.FusedMultiplyAdd(pv, TRows.Load16(row, 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(pv, TRows.Load16(row, 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(pv, TRows.Load16(row, 48), a3);
                }
                a0.Store(output + c);
                a1.Store(output + c + 16);
                a2.Store(output + c + 32);
                a3.Store(output + c + 48);
            }
            return;
        }
        var vectors = KernelIsa.Vector512 ? headDim / 16 * 16 : 0;
        new Span<float>(output, headDim).Clear();
        for (var t = 0; t < length; t++)
        {
            var row = values + (long)t * rowBytes;
            if (prefetch) Ahead(row, rowBytes);
            var pv = Vector512.Create(p[t]);
            for (var i = 0; i < vectors; i += 16) Vector512.FusedMultiplyAdd(pv, TRows.Load16(row, i), Vector512.Load(output + i)).Store(output + i);
            for (var i = vectors; i < headDim; i++) output[i] += p[t] * TRows.Element(row, i);
        }
    }

    /// <summary>The sixteen lanes summed in a fixed order: halves, then quarters, then pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector512<float> v)
    {
        var half = v.GetLower() + v.GetUpper();
        var quarter = half.GetLower() + half.GetUpper();
        var pairs = quarter + Vector128.Shuffle(quarter, Vector128.Create(2, 3, 0, 1));
        return (pairs + Vector128.Shuffle(pairs, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    /// <summary>
    /// Asks for the <paramref name="count"/> rows <see cref="PrefetchRows"/> rows after <paramref name="row"/> (a
    /// head's rows are contiguous).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ahead(byte* row, int rowBytes, int count = 1)
    {
        var next = row + PrefetchRows * rowBytes;
        for (var b = 0; b < count * rowBytes; b += 64) Sse.Prefetch0(next + b);
    }

    /// <summary>How a cache row's elements read as float32 (a type argument, so each element type gets its own loops).</summary>
    private interface IRows
    {
        static abstract int ElementSize { get; }
        static abstract Vector512<float> Load16(byte* row, int i);
        static abstract float Element(byte* row, int i);
    }

    private readonly struct Bf16Rows : IRows
    {
        public static int ElementSize => 2;
        public static Vector512<float> Load16(byte* row, int i) => new FloatMemory(row, true).Load16(i);
        public static float Element(byte* row, int i) => VectorMath.ToFloat(((ushort*)row)[i]);
    }

    private readonly struct F32Rows : IRows
    {
        public static int ElementSize => 4;
        public static Vector512<float> Load16(byte* row, int i) => Vector512.Load((float*)row + i);
        public static float Element(byte* row, int i) => ((float*)row)[i];
    }
}
