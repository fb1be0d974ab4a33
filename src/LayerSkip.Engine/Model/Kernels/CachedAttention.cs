using System.Runtime.CompilerServices;
namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// A few queries, each attending over the first positions of one cache row, read in place from a
/// [batch, kvHeads, capacity, headDim] cache tensor. Grouped-query attention needs no copy: the query heads of a group
/// read the same key/value head. Causality is in the lengths: a chunk's j-th token sees its row up to itself.
/// </summary>
internal static unsafe class CachedAttention
{
    /// <summary>
    /// For every query i and head: softmax(q · Kᵀ · scale) · V over positions [0, lengths[i]) of cache row
    /// cacheRows[i]. <paramref name="queries"/> and <paramref name="output"/> are [queries, heads · headDim];
    /// <paramref name="scores"/> is scratch for queries · heads · max(lengths) floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Attend(float* queries, FloatMemory keys, FloatMemory values, int[] cacheRows, int[] lengths, int kvHeads, int groups,
        int capacity, int headDim, float scale, float* scores, float* output, RowParallel threads)
    {
        var rows = lengths.Length;
        var heads = kvHeads * groups;
        var longest = lengths.Max();
        // Splitting pays only once the cache is long enough to outweigh waking the workers.
        var items = rows * kvHeads;
        void Run(int start, int end)
        {
            for (var item = start; item < end; item++)
            {
                int r = item / kvHeads, g = item % kvHeads;
                var cacheRow = ((long)cacheRows[r] * kvHeads + g) * capacity * headDim;
                for (var j = 0; j < groups; j++)
                {
                    var h = g * groups + j;
                    var q = queries + ((long)r * heads + h) * headDim;
                    var s = scores + ((long)r * heads + h) * longest;
                    var o = output + ((long)r * heads + h) * headDim;
                    Head(q, keys.Offset(cacheRow), values.Offset(cacheRow), lengths[r], headDim, scale, s, o);
                }
            }
        }
        if ((long)longest * heads * rows < 16_384) Run(0, items);
        else threads.For(items, 1, Run);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Head(float* q, FloatMemory keys, FloatMemory values, int length, int headDim, float scale, float* scores, float* output)
    {
        for (var t = 0; t < length; t++) scores[t] = VectorMath.Dot(q, keys.Offset((long)t * headDim), headDim) * scale;
        VectorMath.Softmax(scores, length);
        new Span<float>(output, headDim).Clear();
        for (var t = 0; t < length; t++) VectorMath.AddScaled(output, scores[t], values.Offset((long)t * headDim), headDim);
    }
}
