using System.Numerics;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model.Kernels;

internal sealed unsafe partial class Int4MatVec
{
    /// <summary>Columns rounded together before the next ones see their errors (a multiple of the group size).</summary>
    internal const int GptqBlockColumns = 128;

    /// <summary>Rows one task fits through a block: the block's slice of the feedback stays in cache across them.</summary>
    private const int GptqRowChunk = 32;

    /// <summary>
    /// Quantizes a float32 matrix [out, in] (a contiguous CPU tensor) the GPTQ way (Frantar et al. 2022) and returns
    /// its dequantized values in place. Each row's columns are rounded in order, each from its value updated by the
    /// errors of the columns before it (<see cref="ErrorFeedback"/>): the later columns absorb what correlated inputs
    /// let them, which lowers the output error Δw H Δwᵀ rather than the weight error ‖Δw‖². A group's scale and min are
    /// fitted by <see cref="GroupFit"/> on the row's updated values when its first column is reached. With H = I
    /// nothing is pushed (F = 0) and the result equals <see cref="Quantize"/>'s unweighted fit.
    /// </summary>
    /// <remarks>
    /// The columns go in blocks of <paramref name="blockColumns"/> (rounded to whole groups, so no group straddles two
    /// blocks): a block first takes the errors of all columns before it in one matrix product, then its columns are
    /// rounded one by one, each passing its error on inside the block only. This is the column-by-column fit
    /// reordered, with the work of the updates in a matrix product instead of a pass over the rest of the row per column.
    /// </remarks>
    public static Int4MatVec QuantizeGptq(Tensor weight, int groupSize, ErrorFeedback feedback, int blockColumns = GptqBlockColumns)
    {
        if (weight.ndim != 2 || weight.dtype != ScalarType.Float32)
            throw new ArgumentException($"The GPTQ fit takes a float32 matrix, not {weight.dtype} [{string.Join(", ", weight.shape)}].", nameof(weight));
        var (rows, cols) = ((int)weight.shape[0], (int)weight.shape[1]);
        if (feedback.Columns != cols)
            throw new ArgumentException($"The error feedback is for {feedback.Columns} columns, not {cols}.", nameof(feedback));
        var m = new Int4MatVec(rows, cols, groupSize);
        var block = Math.Max(1, blockColumns / groupSize) * groupSize;
        using var _ = no_grad();
        var w = (float*)TensorMemory.Pointer(weight);
        var f = (float*)TensorMemory.Pointer(feedback.Matrix);
        var dead = Enumerable.Range(0, cols).Where(k => feedback.Dead[k]).Select(k => (long)k).ToArray();
        if (dead.Length > 0)
            using (var index = tensor(dead)) weight.index_fill_(1, index, 0f);
        // Codes of every row (padding 0), packed at the end; meanwhile the columns already rounded hold w − q.
        var codes = new byte[(long)rows * m._padded];
        for (var start = 0; start < cols; start += block)
        {
            var width = Math.Min(block, cols - start);
            using var values = empty(rows, width, ScalarType.Float32); // the block's updated values
            values.copy_(weight.narrow(1, start, width));
            if (start > 0)
                using (var done = weight.narrow(1, 0, start))
                using (var earlier = feedback.Matrix.narrow(0, 0, start))
                using (var pushed = earlier.narrow(1, start, width))
                    values.addmm_(done, pushed);
            var v = (float*)TensorMemory.Pointer(values);
            Parallel.For(0, (rows + GptqRowChunk - 1) / GptqRowChunk, chunk =>
            {
                var group = stackalloc float[groupSize];
                var groupCodes = stackalloc byte[groupSize];
                var end = Math.Min(rows, (chunk + 1) * GptqRowChunk);
                fixed (byte* q = codes)
                    for (var r = chunk * GptqRowChunk; r < end; r++)
                        FitBlockRow(m, w + (long)r * cols, v + (long)r * width, q + (long)r * m._padded, r, start, width, f, group, groupCodes);
            });
        }
        Parallel.For(0, rows, r =>
        {
            fixed (byte* q = codes)
            {
                var row = w + (long)r * cols;
                var rowCodes = q + (long)r * m._padded;
                for (var k = 0; k < cols; k++)
                {
                    row[k] = rowCodes[k] * m.Scale(r, k / groupSize) + m.Min(r, k / groupSize);
                }
                m.Pack(r, rowCodes);
            }
        });
        return m;
    }

    /// <summary>
    /// Rounds columns [start, start + width) of row <paramref name="r"/> from their updated values
    /// <paramref name="values"/>, passing each error on to the block's later columns, and leaves w − q in <paramref name="row"/>.
    /// </summary>
    private static void FitBlockRow(Int4MatVec m, float* row, float* values, byte* codes, int r, int start, int width, float* f, float* group, byte* groupCodes)
    {
        var cols = m.InFeatures;
        var groupSize = m.GroupSize;
        float scale = 0, min = 0;
        for (var j = 0; j < width; j++)
        {
            var k = start + j;
            if (k % groupSize == 0)
            {
                var length = Math.Min(groupSize, cols - k);
                GroupValues(row + k, values + j, f + (long)k * cols + k, cols, length, group);
                (scale, min) = GroupFit.Fit(group, null, length, groupCodes);
                (m.Scale(r, k / groupSize), m.Min(r, k / groupSize)) = (scale, min);
            }
            GroupFit.Assign(values + j, 1, scale, min, codes + k);
            var error = row[k] - (codes[k] * scale + min);
            row[k] = error;
            AddScaled(values + j + 1, error, f + (long)k * cols + k + 1, width - j - 1);
        }
    }

    /// <summary>
    /// The values of a group as GPTQ sees them when its first column is reached: the row's columns after each
    /// earlier column's error was pushed onto all later ones, the best the group can do with the earlier columns
    /// fixed, w + (δ R_SG) R_GG⁻¹ (δ = w − q of the columns S before it, R_GG the group's diagonal block; see
    /// <see cref="ErrorFeedback"/>). The feedback gives <paramref name="updated"/> = w + (δ R_SG) diag(R_GG)⁻¹ instead:
    /// it is exact for each column at its own turn only, so the rest of R_GG is solved for here.
    /// </summary>
    private static void GroupValues(float* original, float* updated, float* f, int cols, int length, float* group)
    {
        for (var i = 0; i < length; i++) group[i] = updated[i] - original[i];
        for (var i = 0; i < length; i++) AddScaled(group + i + 1, -group[i], f + (long)i * cols + i + 1, length - i - 1);
        for (var i = 0; i < length; i++) group[i] += original[i];
    }

    /// <summary>y += a · x over <paramref name="n"/> values.</summary>
    private static void AddScaled(float* y, float a, float* x, int n)
    {
        var k = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var va = new Vector<float>(a);
            for (; k + Vector<float>.Count <= n; k += Vector<float>.Count)
                (Vector.Load(y + k) + va * Vector.Load(x + k)).Store(y + k);
        }
        for (; k < n; k++) y[k] += a * x[k];
    }
}
