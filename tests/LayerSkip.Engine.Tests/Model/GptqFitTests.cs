using LayerSkip.Engine.Model.Kernels;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// The GPTQ-style int4 fit: the inverse-Hessian factor against a naive inverse, its reduction to the plain fit when the
/// inputs are uncorrelated and alike, and the output error it saves when inputs are correlated.
/// </summary>
public unsafe class GptqFitTests
{
    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 40)]
    [InlineData(3, 97)]
    public void TheFactorSquaresToTheNaiveInverseOfTheDampedHessian(int seed, int n)
    {
        var random = new Random(seed);
        var a = new double[n, n + 3];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n + 3; j++) a[i, j] = Normal(random);
        var h = new double[n, n]; // A Aᵀ: symmetric positive definite
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                for (var k = 0; k < n + 3; k++) h[i, j] += a[i, k] * a[j, k];

        var u = InverseHessianFactor.Compute(tensor(h.Cast<double>().ToArray(), [n, n]), out var dead);
        Assert.All(dead, d => Assert.False(d));
        var damped = (double[,])h.Clone();
        var mean = Enumerable.Range(0, n).Average(i => h[i, i]);
        for (var i = 0; i < n; i++) damped[i, i] += InverseHessianFactor.Damping * mean;
        var inverse = NaiveInverse(damped);
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
            {
                if (j < i) Assert.Equal(0, u[i * n + j]); // upper triangular
                double uu = 0; // (UᵀU)_ij
                for (var k = 0; k < n; k++) uu += u[k * n + i] * u[k * n + j];
                Assert.True(Math.Abs(uu - inverse[i, j]) <= 1e-9 * Math.Max(1, Math.Abs(inverse[i, i])), $"n={n} [{i}, {j}]: UᵀU {uu}, inverse {inverse[i, j]}");
            }
    }

    [Fact]
    public void ColumnsWithoutInputAreDeadAndZeroed()
    {
        const int rows = 4, cols = 64;
        var h = new double[cols * cols];
        for (var i = 0; i < cols; i++) h[i * cols + i] = i == 5 ? 0 : 1 + i;
        var u = InverseHessianFactor.Compute(tensor(h, [cols, cols]), out var dead);
        Assert.Equal(Enumerable.Range(0, cols).Select(i => i == 5), dead);
        Assert.All(u, v => Assert.True(double.IsFinite(v)));
        var w = Enumerable.Range(0, rows * cols).Select(i => (float)Math.Sin(i) + (i % cols == 5 ? 3f : 0f)).ToArray();
        fixed (float* p = w)
            using (var m = Int4MatVec.QuantizeGptq(p, rows, cols, 32, u, dead)) { }
        for (var r = 0; r < rows; r++) Assert.True(Math.Abs(w[r * cols + 5]) < 0.2f, $"row {r}: the dead column dequantizes to {w[r * cols + 5]}");
    }

    [Theory]
    [InlineData(32)]
    [InlineData(128)]
    public void AnIdentityHessianGivesExactlyThePlainFit(int groupSize)
    {
        // H = I: the damped inverse's factor is diagonal, no error is pushed on, and every group is fitted on its own
        // values by the same GroupFit as the plain (unweighted) fit.
        const int rows = 24, cols = 320; // padding: 320 is not a multiple of 128
        var random = new Random(groupSize);
        var weights = Enumerable.Range(0, rows * cols).Select(i => (float)(Normal(random) * (i % 37 == 0 ? 8 : 1))).ToArray();
        var identity = new double[cols * cols];
        for (var i = 0; i < cols; i++) identity[i * cols + i] = 1;
        var u = InverseHessianFactor.Compute(tensor(identity, [cols, cols]), out _);
        float[] plain = (float[])weights.Clone(), gptq = (float[])weights.Clone();
        fixed (float* p = plain)
        fixed (float* g = gptq)
        {
            using var a = Int4MatVec.Quantize(p, rows, cols, groupSize);
            using var b = Int4MatVec.QuantizeGptq(g, rows, cols, groupSize, u);
            for (var n = 0; n < rows; n++)
                for (var k = 0; k < cols; k++) Assert.Equal(a.Entry(n, k), b.Entry(n, k));
        }
        Assert.Equal(plain, gptq);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(128)]
    public void CorrelatedInputsLoseAtLeastAFifthLessOutputThanThePlainFit(int groupSize)
    {
        // Inputs driven by a few shared factors (as activations are): many columns move together, so an error in one
        // can be cancelled by its neighbours, which the plain fit ignores.
        const int rows = 48, cols = 256, samples = 1024, factors = 8;
        var random = new Random(groupSize + 1);
        var mixing = new double[factors, cols];
        for (var f = 0; f < factors; f++)
            for (var k = 0; k < cols; k++) mixing[f, k] = Normal(random);
        var inputs = new double[samples, cols];
        for (var t = 0; t < samples; t++)
        {
            var z = Enumerable.Range(0, factors).Select(_ => Normal(random)).ToArray();
            for (var k = 0; k < cols; k++)
            {
                double x = 0.1 * Normal(random);
                for (var f = 0; f < factors; f++) x += z[f] * mixing[f, k];
                inputs[t, k] = x;
            }
        }
        var gram = new double[cols * cols];
        for (var t = 0; t < samples; t++)
            for (var i = 0; i < cols; i++)
                for (var j = 0; j < cols; j++) gram[i * cols + j] += inputs[t, i] * inputs[t, j];
        var weights = Enumerable.Range(0, rows * cols).Select(_ => (float)Normal(random)).ToArray();

        float[] plain = (float[])weights.Clone(), gptq = (float[])weights.Clone();
        var u = InverseHessianFactor.Compute(tensor(gram, [cols, cols]), out _);
        fixed (float* p = plain)
        fixed (float* g = gptq)
        {
            Int4MatVec.Quantize(p, rows, cols, groupSize).Dispose();
            Int4MatVec.QuantizeGptq(g, rows, cols, groupSize, u).Dispose();
        }
        // ‖(W − Ŵ) Xᵀ‖² = Σ_rows Δw H Δwᵀ.
        double OutputError(float[] w)
        {
            double total = 0;
            var d = new double[cols];
            for (var n = 0; n < rows; n++)
            {
                for (var k = 0; k < cols; k++) d[k] = w[n * cols + k] - weights[n * cols + k];
                for (var i = 0; i < cols; i++)
                {
                    double hd = 0;
                    for (var j = 0; j < cols; j++) hd += gram[i * cols + j] * d[j];
                    total += d[i] * hd;
                }
            }
            return total;
        }
        var (plainError, gptqError) = (OutputError(plain), OutputError(gptq));
        Assert.True(gptqError <= 0.8 * plainError, $"g{groupSize}: GPTQ's output error {gptqError} is not 20 % below the plain fit's {plainError}");
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>Gauss–Jordan elimination with partial pivoting.</summary>
    private static double[,] NaiveInverse(double[,] m)
    {
        var n = m.GetLength(0);
        var a = (double[,])m.Clone();
        var inv = new double[n, n];
        for (var i = 0; i < n; i++) inv[i, i] = 1;
        for (var c = 0; c < n; c++)
        {
            var pivot = Enumerable.Range(c, n - c).MaxBy(r => Math.Abs(a[r, c]));
            for (var j = 0; j < n; j++) { (a[c, j], a[pivot, j]) = (a[pivot, j], a[c, j]); (inv[c, j], inv[pivot, j]) = (inv[pivot, j], inv[c, j]); }
            var p = a[c, c];
            for (var j = 0; j < n; j++) { a[c, j] /= p; inv[c, j] /= p; }
            for (var r = 0; r < n; r++)
            {
                if (r == c || a[r, c] == 0) continue;
                var f = a[r, c];
                for (var j = 0; j < n; j++) { a[r, j] -= f * a[c, j]; inv[r, j] -= f * inv[c, j]; }
            }
        }
        return inv;
    }
}
