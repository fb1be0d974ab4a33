using static TorchSharp.torch;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// The upper Cholesky factor U of the damped inverse input Hessian, (H + λ·mean(diag H)·I)⁻¹ = UᵀU, which the
/// GPTQ-style fit (<see cref="Int4MatVec.QuantizeGptq"/>) uses to push each column's rounding error onto the columns
/// not yet quantized. Computed in float64 by libtorch's LAPACK Cholesky: a down projection's 8192² Hessian takes a
/// naive O(n³) loop minutes.
/// </summary>
internal static class InverseHessianFactor
{
    /// <summary>The damping λ, a share of the mean diagonal: keeps H invertible when inputs are collinear.</summary>
    public const double Damping = 0.01;

    /// <summary>
    /// U [n, n] row-major for the Gram matrix <paramref name="gram"/> = Σ x xᵀ [n, n]. A column whose input was always
    /// zero (diagonal 0) gets diagonal 1 and is reported in <paramref name="dead"/>: its weight reaches no output on
    /// the calibration text, so the fit zeroes it rather than spend error feedback on it.
    /// </summary>
    public static double[] Compute(Tensor gram, out bool[] dead, double damping = Damping)
    {
        if (gram.ndim != 2 || gram.shape[0] != gram.shape[1]) throw new ArgumentException($"A Gram matrix is square, not [{string.Join(", ", gram.shape)}].", nameof(gram));
        var n = gram.shape[0];
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var h = gram.to(ScalarType.Float64, CPU, copy: true);
        var diagonal = h.diagonal();
        var zero = diagonal.eq(0);
        dead = zero.data<bool>().ToArray();
        diagonal.masked_fill_(zero, 1.0);
        diagonal.add_(damping * diagonal.mean().item<double>());
        var lower = linalg.cholesky(h);
        var inverse = lower.cholesky_inverse();
        var upper = linalg.cholesky(inverse).t().contiguous(); // (H⁻¹ = C Cᵀ) ⇒ U = Cᵀ
        var result = upper.data<double>().ToArray();
        if (result.Length != n * n) throw new InvalidOperationException("Unexpected factor size.");
        return result;
    }
}
