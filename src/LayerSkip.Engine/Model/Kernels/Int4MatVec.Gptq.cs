using System.Numerics;

namespace LayerSkip.Engine.Model.Kernels;

internal sealed unsafe partial class Int4MatVec
{
    /// <summary>Rows fitted together: each row of the inverse-Hessian factor is read once per block, not once per row.</summary>
    private const int GptqRowBlock = 16;

    /// <summary>
    /// Quantizes a float32 row-major matrix [out, in] the GPTQ way (Frantar et al. 2022) and returns its dequantized
    /// values in place. Each row's columns are rounded in order, and each rounding error e_i is pushed onto the columns
    /// not yet rounded, w_j −= e_i · U_ij / U_ii, where UᵀU is the damped inverse Hessian of the inputs
    /// (<paramref name="inverseFactor"/>, [in, in], from <see cref="InverseHessianFactor"/>): the later columns absorb
    /// what correlated inputs let them, which lowers the output error Δw H Δwᵀ rather than the weight error ‖Δw‖². A
    /// group's scale and min are fitted by <see cref="GroupFit"/> on the row's updated values when its first column is
    /// reached. With H = I nothing is pushed (U is diagonal) and the result equals <see cref="Quantize"/>'s unweighted fit.
    /// </summary>
    /// <param name="deadColumns">Columns to zero first (inputs that were always zero); null for none.</param>
    public static Int4MatVec QuantizeGptq(float* w, int outFeatures, int inFeatures, int groupSize, double[] inverseFactor, bool[]? deadColumns = null)
    {
        if (inverseFactor.Length != (long)inFeatures * inFeatures)
            throw new ArgumentException($"The inverse-Hessian factor has {inverseFactor.Length} entries, not {inFeatures}².", nameof(inverseFactor));
        if (deadColumns is not null && deadColumns.Length != inFeatures)
            throw new ArgumentException($"{deadColumns.Length} dead-column flags for {inFeatures} columns.", nameof(deadColumns));
        var m = new Int4MatVec(outFeatures, inFeatures, groupSize);
        var blocks = (outFeatures + GptqRowBlock - 1) / GptqRowBlock;
        Parallel.For(0, blocks, b =>
        {
            var first = b * GptqRowBlock;
            var count = Math.Min(GptqRowBlock, outFeatures - first);
            var rows = new double[count * inFeatures];
            for (var r = 0; r < count; r++)
                for (var k = 0; k < inFeatures; k++)
                    rows[r * inFeatures + k] = deadColumns?[k] == true ? 0 : w[(long)(first + r) * inFeatures + k];
            var codes = new byte[count * m._padded];
            var scales = new float[count];
            var mins = new float[count];
            var errors = new double[count];
            var group = new float[groupSize];
            var groupCodes = new byte[groupSize];
            fixed (double* u = inverseFactor)
            fixed (float* g = group)
            fixed (byte* gq = groupCodes)
                for (var i = 0; i < inFeatures; i++)
                {
                    if (i % groupSize == 0)
                    {
                        var length = Math.Min(groupSize, inFeatures - i);
                        for (var r = 0; r < count; r++)
                        {
                            for (var j = 0; j < length; j++) g[j] = (float)rows[r * inFeatures + i + j];
                            (scales[r], mins[r]) = GroupFit.Fit(g, null, length, gq);
                            m._scales[(first + r) * m._groups + i / groupSize] = scales[r];
                            m._mins[(first + r) * m._groups + i / groupSize] = mins[r];
                        }
                    }
                    var pivot = u[(long)i * inFeatures + i];
                    for (var r = 0; r < count; r++)
                    {
                        var value = (float)rows[r * inFeatures + i];
                        byte code;
                        GroupFit.Assign(&value, 1, scales[r], mins[r], &code);
                        var dequantized = code * scales[r] + mins[r];
                        codes[r * m._padded + i] = code;
                        w[(long)(first + r) * inFeatures + i] = dequantized;
                        errors[r] = (rows[r * inFeatures + i] - dequantized) / pivot;
                    }
                    var rest = inFeatures - i - 1;
                    if (rest == 0) continue;
                    var factorRow = new ReadOnlySpan<double>(u + (long)i * inFeatures + i + 1, rest);
                    for (var r = 0; r < count; r++)
                        SubtractScaled(rows.AsSpan(r * inFeatures + i + 1, rest), errors[r], factorRow);
                }
            fixed (byte* q = codes)
                for (var r = 0; r < count; r++) m.Pack(first + r, q + r * m._padded);
        });
        return m;
    }

    /// <summary>y −= a · x.</summary>
    private static void SubtractScaled(Span<double> y, double a, ReadOnlySpan<double> x)
    {
        var k = 0;
        if (Vector.IsHardwareAccelerated && y.Length >= Vector<double>.Count)
        {
            var va = new Vector<double>(a);
            for (; k + Vector<double>.Count <= y.Length; k += Vector<double>.Count)
                (new Vector<double>(y[k..]) - va * new Vector<double>(x[k..])).CopyTo(y[k..]);
        }
        for (; k < y.Length; k++) y[k] -= a * x[k];
    }
}
