using LayerSkip.Engine.Model;
using LayerSkip.Engine.Model.Kernels;
using LayerSkip.Tests;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// The int4 group fit (w ≈ scale · q + min, q in 0..15) against independent references: the exact optimum found by
/// exhaustive search on small groups, the plain min/max fit written here from its definition, and the real weights of
/// stories260K.
/// </summary>
public unsafe class GroupFitTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SmallGroupsComeCloseToTheExactOptimum(bool weighted)
    {
        var random = new Random(11);
        double fitExcess = 0, plainExcess = 0;
        for (var trial = 0; trial < 40; trial++)
        {
            var w = Gaussian(random, 7, outlier: trial % 2 == 0);
            var c = weighted ? Enumerable.Range(0, 7).Select(_ => (float)(0.1 + random.NextDouble())).ToArray() : null;
            var (fit, _, _, _) = Fit(w, c);
            var optimum = ExhaustiveOptimum(w, c);
            var plain = PlainError(w, c);
            Assert.True(optimum <= fit * (1 + 1e-5) + 1e-12, $"trial {trial}: the exhaustive search ({optimum}) lost to the fit ({fit})");
            Assert.True(fit <= plain * (1 + 1e-6), $"trial {trial}: the fit ({fit}) lost to min/max ({plain})");
            fitExcess += fit - optimum;
            plainExcess += plain - optimum;
        }
        // Over all groups the fit removes more than half of the min/max fit's excess over the optimum (about 60 % here).
        Assert.True(fitExcess <= 0.5 * plainExcess, $"the fit's excess over the optimum {fitExcess} is not below half of min/max's {plainExcess}");
    }

    [Theory]
    [InlineData("gaussian")]
    [InlineData("outlier")]
    [InlineData("uniform")]
    public void GroupsOf64LoseLessThanMinMaxAndKeepNearestCodes(string kind)
    {
        var random = new Random(kind.Length);
        double fitTotal = 0, plainTotal = 0;
        for (var trial = 0; trial < 200; trial++)
        {
            var w = kind == "uniform"
                ? Enumerable.Range(0, 64).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()
                : Gaussian(random, 64, outlier: kind == "outlier");
            var c = trial % 2 == 0 ? null : Enumerable.Range(0, 64).Select(_ => (float)(0.05 + random.NextDouble())).ToArray();
            var (fit, q, scale, min) = Fit(w, c);
            var plain = PlainError(w, c);
            Assert.True(fit <= plain * (1 + 1e-6), $"trial {trial}: the fit ({fit}) lost to min/max ({plain})");
            Assert.True(scale > 0, $"trial {trial}: scale {scale}");
            for (var k = 0; k < 64; k++)
            {
                Assert.InRange(q[k], 0, 15);
                // Each code is the nearest level to its value (ties either way).
                var distance = Math.Abs(q[k] * scale + min - w[k]);
                var best = Enumerable.Range(0, 16).Min(l => Math.Abs(l * scale + min - w[k]));
                Assert.True(distance <= best + 1e-6 * Math.Abs(scale), $"trial {trial}, value {k}: code {q[k]} is not the nearest level");
            }
            if (c is null) { fitTotal += fit; plainTotal += plain; }
        }
        // On these groups the fit should be clearly better, not merely no worse.
        var needed = kind == "uniform" ? 0.99 : 0.9;
        Assert.True(fitTotal <= needed * plainTotal, $"{kind}: the fit's squared error {fitTotal} is not below {needed:P0} of min/max's {plainTotal}");
    }

    [Theory]
    [InlineData(32)]
    [InlineData(128)]
    public void SkewedColumnImportanceLowersTheErrorThatReachesTheOutput(int groupSize)
    {
        // Inputs whose columns differ in scale, as activations do: E[x_k²] = c_k spread over two orders of magnitude.
        const int rows = 48, cols = 256, samples = 512;
        var random = new Random(groupSize);
        var importance = Enumerable.Range(0, cols).Select(_ => (float)Math.Exp(1.5 * Gaussian(random, 1, false)[0])).ToArray();
        var weights = Gaussian(random, rows * cols, outlier: false);
        var inputs = new double[samples, cols];
        for (var t = 0; t < samples; t++)
            for (var k = 0; k < cols; k++) inputs[t, k] = Math.Sqrt(importance[k]) * Gaussian(random, 1, false)[0];

        float[] Dequantized(float[]? c)
        {
            var w = (float[])weights.Clone();
            fixed (float* p = w)
            fixed (float* pc = c)
                Int4MatVec.Quantize(p, rows, cols, groupSize, pc).Dispose();
            return w;
        }
        double WeightedError(float[] w) =>
            Enumerable.Range(0, rows * cols).Sum(i => importance[i % cols] * Math.Pow(w[i] - weights[i], 2));
        double OutputError(float[] w)
        {
            double total = 0;
            for (var t = 0; t < samples; t++)
                for (var n = 0; n < rows; n++)
                {
                    double e = 0;
                    for (var k = 0; k < cols; k++) e += (w[n * cols + k] - weights[n * cols + k]) * inputs[t, k];
                    total += e * e;
                }
            return total / samples;
        }

        var uniform = Dequantized(null);
        var weighted = Dequantized(importance);
        Assert.True(WeightedError(weighted) <= 0.8 * WeightedError(uniform),
            $"g{groupSize}: the weighted fit's weighted error {WeightedError(weighted)} is not 20 % below the uniform fit's {WeightedError(uniform)}");
        Assert.True(OutputError(weighted) <= 0.8 * OutputError(uniform),
            $"g{groupSize}: the weighted fit's output error {OutputError(weighted)} is not 20 % below the uniform fit's {OutputError(uniform)}");
    }

    [Fact]
    public void Stories260KProjectionsLoseLessThanMinMaxAndDequantizeToScaleTimesCodePlusMin()
    {
        using var model = DecoderModel.Load(SharedData.Stories260K, ScalarType.Float32, CPU);
        var layer = model.Weights.Layers[0];
        foreach (var (name, weight) in new[] { ("qkv", layer.Qkv), ("down", layer.Down), ("lm_head", model.Weights.LmHead) })
        {
            int rows = (int)weight.shape[0], cols = (int)weight.shape[1];
            var original = weight.contiguous().data<float>().ToArray();
            var dequantized = (float[])original.Clone();
            Int4MatVec kernel;
            fixed (float* p = dequantized) kernel = Int4MatVec.Quantize(p, rows, cols, 64);
            using var _ = kernel;
            double fit = 0, plain = 0;
            for (var n = 0; n < rows; n++)
            {
                for (var k = 0; k < cols; k++)
                {
                    var (scale, min, code) = kernel.Entry(n, k);
                    Assert.InRange(code, 0, 15);
                    Assert.Equal(code * scale + min, dequantized[n * cols + k]);
                    fit += Math.Pow(dequantized[n * cols + k] - original[n * cols + k], 2);
                }
                for (var g = 0; g < cols; g += 64)
                    plain += PlainError(original[(n * cols + g)..(n * cols + Math.Min(cols, g + 64))], null);
            }
            Assert.True(fit <= 0.9 * plain, $"{name}: the fit's squared error {fit} is not 10 % below min/max's {plain}");
        }
    }

    private static float[] Gaussian(Random random, int n, bool outlier)
    {
        var w = new float[n];
        for (var k = 0; k < n; k++)
            w[k] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        if (outlier) w[random.Next(n)] = (float)(random.NextDouble() < 0.5 ? -6 : 6);
        return w;
    }

    private static (double Error, byte[] Q, float Scale, float Min) Fit(float[] w, float[]? c)
    {
        var q = new byte[w.Length];
        float scale, min;
        fixed (float* pw = w)
        fixed (float* pc = c)
        fixed (byte* pq = q)
            (scale, min) = GroupFit.Fit(pw, pc, w.Length, pq);
        return (Error(w, c, k => q[k] * scale + min), q, scale, min);
    }

    private static double Error(float[] w, float[]? c, Func<int, double> value) =>
        Enumerable.Range(0, w.Length).Sum(k => (c?[k] ?? 1.0) * Math.Pow((float)value(k) - w[k], 2));

    /// <summary>Min/max rounding from its definition: 15 equal steps from the smallest value to the largest.</summary>
    private static double PlainError(float[] w, float[]? c)
    {
        float lo = w.Min(), hi = w.Max(), step = (hi - lo) / 15f;
        return step == 0 ? 0 : Error(w, c, k => Math.Clamp(MathF.Round((w[k] - lo) * (1f / step)), 0, 15) * step + lo);
    }

    /// <summary>
    /// The least weighted squared error any scale, min and codes reach: with a positive scale the best codes never
    /// decrease as the value grows, so it suffices to try every non-decreasing code sequence over the sorted values,
    /// each with its least-squares scale and min (a constant when all codes are equal).
    /// </summary>
    private static double ExhaustiveOptimum(float[] w, float[]? c)
    {
        var order = Enumerable.Range(0, w.Length).OrderBy(k => w[k]).ToArray();
        var x = order.Select(k => (double)w[k]).ToArray();
        var weight = order.Select(k => c?[k] ?? 1.0).ToArray();
        var codes = new int[x.Length];
        var best = double.MaxValue;
        void Search(int i, int from)
        {
            if (i == x.Length)
            {
                double s = 0, sq = 0, sqq = 0, sw = 0, sqw = 0;
                for (var k = 0; k < x.Length; k++)
                {
                    s += weight[k]; sq += weight[k] * codes[k]; sqq += weight[k] * codes[k] * codes[k];
                    sw += weight[k] * x[k]; sqw += weight[k] * codes[k] * x[k];
                }
                var det = s * sqq - sq * sq;
                double scale = det == 0 ? 0 : (s * sqw - sq * sw) / det, min = det == 0 ? sw / s : (sqq * sw - sq * sqw) / det;
                var e = 0.0;
                for (var k = 0; k < x.Length; k++) e += weight[k] * Math.Pow(scale * codes[k] + min - x[k], 2);
                best = Math.Min(best, e);
                return;
            }
            for (var q = from; q <= 15; q++) { codes[i] = q; Search(i + 1, q); }
        }
        Search(0, 0);
        return best;
    }
}
