using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// How the GPTQ-style fit (<see cref="Int4MatVec.QuantizeGptq"/>) pushes rounding errors onto the columns not yet
/// rounded: a row's column j is rounded from its updated value w̃_j = w_j + Σ_{k&lt;j} (w_k − q_k) F_kj, where q_k are
/// the values the earlier columns were rounded to. GPTQ (Frantar et al. 2022) writes the same update with U, the upper
/// Cholesky factor of the damped inverse Hessian, (H + λ·mean(diag H)·I)⁻¹ = UᵀU. With R = U⁻¹, the upper triangular
/// R with H + λ·mean(diag H)·I = R Rᵀ, it is F_kj = R_kj / R_jj for k &lt; j: one Cholesky factorization of H (in
/// reversed order) gives it, without the inverse and the second factorization that take twice as long again.
/// </summary>
internal sealed class ErrorFeedback : IDisposable
{
    /// <summary>The damping λ, a share of the mean diagonal: keeps H invertible when inputs are collinear.</summary>
    public const double Damping = 0.01;

    private static readonly Scalar Zero = 0L.ToScalar(); // see LiveScalars

    private ErrorFeedback(Tensor matrix, bool[] dead) => (Matrix, Dead) = (matrix, dead);

    /// <summary>F [n, n], float32 row-major, strictly upper triangular.</summary>
    public Tensor Matrix { get; }

    /// <summary>
    /// Columns whose input was always zero (diagonal 0; given diagonal 1 for the factorization): their weights reach no
    /// output on the calibration text, so the fit zeroes them rather than spend error feedback on them.
    /// </summary>
    public bool[] Dead { get; }

    public int Columns => Dead.Length;

    /// <summary>
    /// The feedback for the Gram matrix <paramref name="gram"/> = Σ x xᵀ [n, n], factorized in float64. With
    /// <paramref name="disposeGram"/> the Gram is disposed as soon as its copy exists, so no more than two n² float64
    /// matrices are held at once.
    /// </summary>
    public static ErrorFeedback Compute(Tensor gram, double damping = Damping, bool disposeGram = false)
    {
        if (gram.ndim != 2 || gram.shape[0] != gram.shape[1]) throw new ArgumentException($"A Gram matrix is square, not [{string.Join(", ", gram.shape)}].", nameof(gram));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // H = R Rᵀ with R upper is the lower Cholesky factor L of H with rows and columns reversed, so everything is
        // done in that order and only F is turned back. Each n² intermediate (n = 8192: 512 MB in float64) is disposed,
        // views included, as soon as the next exists, so that no more than two are held at once.
        bool[] dead;
        using (var diagonal = gram.diagonal())
        using (var zero = diagonal.eq(Zero))
            dead = zero.data<bool>().ToArray();
        Tensor reversed;
        if (gram.dtype == ScalarType.Float64 && gram.device_type == TorchSharp.DeviceType.CPU) reversed = gram.flip(0, 1);
        else
            using (var h = gram.to(ScalarType.Float64, CPU, copy: true))
                reversed = h.flip(0, 1);
        if (disposeGram) gram.Dispose();
        Tensor lower;
        using (reversed)
        {
            using (var diagonal = reversed.diagonal())
            using (var zero = diagonal.eq(Zero))
            {
                diagonal.masked_fill_(zero, LiveScalars.One);
                using var mean = diagonal.mean();
                using var shift = (damping * mean.item<double>()).ToScalar(); // alive through the call (see LiveScalars)
                diagonal.add_(shift, LiveScalars.One);
            }
            lower = linalg.cholesky(reversed);
        }
        Tensor single;
        using (lower)
        {
            using (var diagonal = lower.diagonal())
            using (var pivots = diagonal.clone())
                lower.div_(pivots).tril_(-1); // column j over its diagonal entry
            single = lower.to(ScalarType.Float32);
        }
        var matrix = single.flip(0, 1);
        single.Dispose();
        if (!matrix.is_contiguous())
            using (var strided = matrix)
                matrix = strided.contiguous();
        return new ErrorFeedback(matrix.DetachFromDisposeScope(), dead);
    }

    public void Dispose() => Matrix.Dispose();
}
