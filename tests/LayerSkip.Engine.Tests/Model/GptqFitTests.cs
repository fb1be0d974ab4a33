using LayerSkip.Engine.Model.Kernels;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// The GPTQ-style int4 fit: its error feedback against GPTQ's from a naive inverse, its reduction to the plain fit when
/// the inputs are uncorrelated and alike, the output error it saves when inputs are correlated, and its blocked order
/// against the column-by-column fit.
/// </summary>
public unsafe class GptqFitTests
{
    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 40)]
    [InlineData(3, 97)]
    public void TheFeedbackIsGptqsUpdateFromTheNaiveInverseOfTheDampedHessian(int seed, int n)
    {
        var random = new Random(seed);
        var a = new double[n, n + 3];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n + 3; j++) a[i, j] = Normal(random);
        var h = new double[n, n]; // A Aᵀ: symmetric positive definite
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                for (var k = 0; k < n + 3; k++) h[i, j] += a[i, k] * a[j, k];

        using var feedback = ErrorFeedback.Compute(tensor(h.Cast<double>().ToArray(), [n, n]));
        Assert.All(feedback.Dead, d => Assert.False(d));
        var f = feedback.Matrix.data<float>().ToArray();
        // GPTQ's update: U upper with UᵀU = the damped inverse; column i's error (w̃_i − q_i) / U_ii moves column j by
        // −U_ij times it. Written in the original deltas w_k − q_k that is F = R·diag(R)⁻¹ − I with R = U⁻¹.
        var damped = (double[,])h.Clone();
        var mean = Enumerable.Range(0, n).Average(i => h[i, i]);
        for (var i = 0; i < n; i++) damped[i, i] += ErrorFeedback.Damping * mean;
        var u = Transpose(NaiveCholesky(NaiveInverse(damped)));
        var r = NaiveInverse(u);
        for (var k = 0; k < n; k++)
            for (var j = 0; j < n; j++)
            {
                var expected = k < j ? r[k, j] / r[j, j] : 0;
                Assert.True(Math.Abs(f[k * n + j] - expected) <= 1e-5 * Math.Max(1, Math.Abs(expected)), $"n={n} [{k}, {j}]: F {f[k * n + j]}, expected {expected}");
            }
    }

    [Fact]
    public void ColumnsWithoutInputAreDeadAndZeroed()
    {
        const int rows = 4, cols = 64;
        var h = new double[cols * cols];
        for (var i = 0; i < cols; i++) h[i * cols + i] = i == 5 ? 0 : 1 + i;
        using var feedback = ErrorFeedback.Compute(tensor(h, [cols, cols]));
        Assert.Equal(Enumerable.Range(0, cols).Select(i => i == 5), feedback.Dead);
        Assert.All(feedback.Matrix.data<float>().ToArray(), v => Assert.True(float.IsFinite(v)));
        using var weight = tensor(Enumerable.Range(0, rows * cols).Select(i => (float)Math.Sin(i) + (i % cols == 5 ? 3f : 0f)).ToArray(), [rows, cols]);
        using (var m = Int4MatVec.QuantizeGptq(weight, 32, feedback)) { }
        var w = weight.data<float>().ToArray();
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
        using var feedback = ErrorFeedback.Compute(tensor(identity, [cols, cols]));
        var plain = (float[])weights.Clone();
        using var gptq = tensor(weights, [rows, cols]);
        fixed (float* p = plain)
        {
            using var a = Int4MatVec.Quantize(p, rows, cols, groupSize);
            using var b = Int4MatVec.QuantizeGptq(gptq, groupSize, feedback);
            for (var n = 0; n < rows; n++)
                for (var k = 0; k < cols; k++) Assert.Equal(a.Entry(n, k), b.Entry(n, k));
        }
        Assert.Equal(plain, gptq.data<float>().ToArray());
    }

    [Theory]
    [InlineData(32)]
    [InlineData(128)]
    public void CorrelatedInputsLoseAtLeastAFifthLessOutputThanThePlainFit(int groupSize)
    {
        const int rows = 48, cols = 256;
        var random = new Random(groupSize + 1);
        var gram = CorrelatedGram(random, cols);
        var weights = Enumerable.Range(0, rows * cols).Select(_ => (float)Normal(random)).ToArray();

        var plain = (float[])weights.Clone();
        using var feedback = ErrorFeedback.Compute(tensor(gram, [cols, cols]));
        using var fitted = tensor(weights, [rows, cols]);
        fixed (float* p = plain) Int4MatVec.Quantize(p, rows, cols, groupSize).Dispose();
        Int4MatVec.QuantizeGptq(fitted, groupSize, feedback).Dispose();
        var gptq = fitted.data<float>().ToArray();
        var (plainError, gptqError) = (OutputError(gram, weights, plain, cols), OutputError(gram, weights, gptq, cols));
        Assert.True(gptqError <= 0.8 * plainError, $"g{groupSize}: GPTQ's output error {gptqError} is not 20 % below the plain fit's {plainError}");
    }

    [Theory]
    [InlineData(32, 128, 300)]  // four groups a block; the last group (and block) short
    [InlineData(128, 128, 384)] // one group a block
    [InlineData(32, 96, 384)]   // three groups a block, blocks not a power of two
    [InlineData(256, 128, 640)] // groups wider than the block asked for: a block is one group
    [InlineData(64, 128, 200)]
    public void TheBlockedFitEqualsTheColumnByColumnFit(int groupSize, int blockColumns, int cols)
    {
        // The fit as GPTQ states it, in float64: after each column, its error pushed onto all later columns of the row
        // through the factor of the naive inverse. Only values within float rounding of a code boundary may round the
        // other way (float32 updates against float64 here), and each such flip moves the rest of its row a little.
        const int rows = 40;
        var random = new Random(groupSize + cols);
        var gram = CorrelatedGram(random, cols);
        gram[7 * cols + 7] = 0; // one dead column
        for (var k = 0; k < cols; k++) gram[7 * cols + k] = gram[k * cols + 7] = 0;
        var weights = Enumerable.Range(0, rows * cols).Select(_ => (float)Normal(random)).ToArray();

        using var feedback = ErrorFeedback.Compute(tensor(gram, [cols, cols]));
        using var fitted = tensor(weights, [rows, cols]);
        using var blocked = Int4MatVec.QuantizeGptq(fitted, groupSize, feedback, blockColumns);
        var (referenceCodes, reference) = ColumnByColumnFit(weights, rows, cols, groupSize, gram);

        var same = 0;
        for (var n = 0; n < rows; n++)
            for (var k = 0; k < cols; k++)
                if (blocked.Entry(n, k).Code == referenceCodes[n * cols + k]) same++;
        Assert.True(same >= 0.999 * rows * cols, $"{rows * cols - same} of {rows * cols} codes differ from the column-by-column fit's");
        var (blockedError, referenceError) = (OutputError(gram, weights, fitted.data<float>().ToArray(), cols), OutputError(gram, weights, reference, cols));
        Assert.True(Math.Abs(blockedError - referenceError) <= 1e-3 * referenceError,
            $"output error {blockedError} against the column-by-column fit's {referenceError}");
    }

    /// <summary>GPTQ's per-column fit with every update applied at once, in float64: codes and dequantized values.</summary>
    private static (byte[] Codes, float[] Dequantized) ColumnByColumnFit(float[] weights, int rows, int cols, int groupSize, double[] gram)
    {
        var damped = new double[cols, cols];
        var mean = Enumerable.Range(0, cols).Average(i => gram[i * cols + i] == 0 ? 1 : gram[i * cols + i]);
        for (var i = 0; i < cols; i++)
            for (var j = 0; j < cols; j++)
                damped[i, j] = i != j ? gram[i * cols + j] : (gram[i * cols + i] == 0 ? 1 : gram[i * cols + i]) + ErrorFeedback.Damping * mean;
        var u = Transpose(NaiveCholesky(NaiveInverse(damped)));
        var codes = new byte[rows * cols];
        var dequantized = new float[rows * cols];
        var group = new float[groupSize];
        var groupCodes = new byte[groupSize];
        for (var n = 0; n < rows; n++)
        {
            var w = Enumerable.Range(0, cols).Select(k => gram[k * cols + k] == 0 ? 0.0 : weights[n * cols + k]).ToArray();
            float scale = 0, min = 0;
            for (var i = 0; i < cols; i++)
            {
                if (i % groupSize == 0)
                {
                    var length = Math.Min(groupSize, cols - i);
                    for (var j = 0; j < length; j++) group[j] = (float)w[i + j];
                    fixed (float* g = group)
                    fixed (byte* q = groupCodes)
                        (scale, min) = GroupFit.Fit(g, null, length, q);
                }
                var value = (float)w[i];
                byte code;
                GroupFit.Assign(&value, 1, scale, min, &code);
                codes[n * cols + i] = code;
                dequantized[n * cols + i] = code * scale + min;
                var error = (w[i] - dequantized[n * cols + i]) / u[i, i];
                for (var j = i + 1; j < cols; j++) w[j] -= error * u[i, j];
            }
        }
        return (codes, dequantized);
    }

    /// <summary>
    /// Σ x xᵀ [cols, cols] of inputs driven by a few shared factors (as activations are): many columns move together,
    /// so an error in one can be cancelled by its neighbours, which the plain fit ignores.
    /// </summary>
    private static double[] CorrelatedGram(Random random, int cols, int samples = 1024, int factors = 8)
    {
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
        return gram;
    }

    /// <summary>‖(W − Ŵ) Xᵀ‖² = Σ_rows Δw H Δwᵀ.</summary>
    private static double OutputError(double[] gram, float[] weights, float[] fitted, int cols)
    {
        double total = 0;
        var d = new double[cols];
        for (var n = 0; n < weights.Length / cols; n++)
        {
            for (var k = 0; k < cols; k++) d[k] = fitted[n * cols + k] - weights[n * cols + k];
            for (var i = 0; i < cols; i++)
            {
                double hd = 0;
                for (var j = 0; j < cols; j++) hd += gram[i * cols + j] * d[j];
                total += d[i] * hd;
            }
        }
        return total;
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

    /// <summary>The lower triangular L with L Lᵀ = <paramref name="m"/> (symmetric positive definite).</summary>
    private static double[,] NaiveCholesky(double[,] m)
    {
        var n = m.GetLength(0);
        var l = new double[n, n];
        for (var j = 0; j < n; j++)
        {
            var d = m[j, j];
            for (var k = 0; k < j; k++) d -= l[j, k] * l[j, k];
            l[j, j] = Math.Sqrt(d);
            for (var i = j + 1; i < n; i++)
            {
                var v = m[i, j];
                for (var k = 0; k < j; k++) v -= l[i, k] * l[j, k];
                l[i, j] = v / l[j, j];
            }
        }
        return l;
    }

    private static double[,] Transpose(double[,] m)
    {
        var t = new double[m.GetLength(1), m.GetLength(0)];
        for (var i = 0; i < m.GetLength(0); i++)
            for (var j = 0; j < m.GetLength(1); j++) t[j, i] = m[i, j];
        return t;
    }
}
