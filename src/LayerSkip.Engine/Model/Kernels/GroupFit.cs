using System.Runtime.Intrinsics;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// Fits one int4 group, w ≈ scale · q + min with q in [0, 15], to lower its (optionally importance-weighted) squared
/// error Σ c_k (scale · q_k + min − w_k)². The plain fit spreads the group's min..max range over 15 steps; a single
/// outlier then coarsens every other value. This fit also tries grids a little finer than that (whose end values clip)
/// and, for each, alternates the two exact sub-problems: given the integers, the least-squares scale and min in closed
/// form; given scale and min, the nearest integers. Each step can only lower the error, and the plain min/max fit is
/// the first candidate, so the result is never worse than it under the same weights.
/// </summary>
internal static unsafe class GroupFit
{
    public const int Levels = 15;

    /// <summary>Extra steps tried beyond the 15 of the min/max grid (the range is divided by 15 + δ).</summary>
    private static readonly float[] Widenings = [0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f];

    private const int Refinements = 4;

    /// <summary>
    /// Fits <paramref name="n"/> values <paramref name="w"/> with per-value importance <paramref name="c"/> (null: all
    /// equal), writes the integers to <paramref name="q"/> and returns the group's scale and min.
    /// </summary>
    public static (float Scale, float Min) Fit(float* w, float* c, int n, byte* q)
    {
        if (n == 0) return (0, 0);
        float lo = float.MaxValue, hi = float.MinValue;
        for (var k = 0; k < n; k++) { lo = Math.Min(lo, w[k]); hi = Math.Max(hi, w[k]); }
        if (hi == lo) return MinMax(w, n, lo, hi, q);

        var group = new Sums(w, c, n);
        float bestScale = (hi - lo) / Levels, bestMin = lo;
        var bestError = group.Error(w, c, n, bestScale, bestMin, out _);
        foreach (var widening in Widenings)
        {
            // A finer grid anchored at the group's centre: the extreme values clip to 0 or 15.
            var scale = (hi - lo) / (Levels + widening);
            var min = 0.5f * (lo + hi) - 0.5f * Levels * scale;
            var error = double.MaxValue;
            for (var i = 0; i < Refinements; i++)
            {
                // The nearest integers for this scale and min, then the least-squares scale and min for them.
                group.Error(w, c, n, scale, min, out var codes);
                if (!codes.LeastSquares(group, out var s, out var m)) break;
                var e = group.Error(codes, s, m);
                if (e >= error) break;
                (scale, min, error) = (s, m, e);
                if (e < bestError) (bestScale, bestMin, bestError) = (s, m, e);
            }
        }
        // The nearest integers for the best scale and min: never a higher error than the integers it was solved for.
        Assign(w, n, bestScale, bestMin, q);
        return (bestScale, bestMin);
    }

    /// <summary>The group's importance-weighted sums that do not depend on the integers.</summary>
    private readonly struct Sums
    {
        public readonly double S, Sw, Sww;

        public Sums(float* w, float* c, int n)
        {
            for (var k = 0; k < n; k++)
            {
                var ck = c == null ? 1.0 : c[k];
                S += ck; Sw += ck * w[k]; Sww += ck * w[k] * (double)w[k];
            }
        }

        /// <summary>
        /// The error of the nearest integers for <paramref name="scale"/> and <paramref name="min"/>, from one pass that
        /// also gathers the integers' sums.
        /// </summary>
        public double Error(float* w, float* c, int n, float scale, float min, out CodeSums codes)
        {
            codes = CodeSums.Of(w, c, n, scale, min);
            return Error(codes, scale, min);
        }

        /// <summary>Σ c (s·q + m − w)² expanded into the sums.</summary>
        public double Error(CodeSums q, double s, double m) =>
            Math.Max(0, Sww - 2 * s * q.Sqw - 2 * m * Sw + s * s * q.Sqq + 2 * s * m * q.Sq + m * m * S);
    }

    private readonly record struct CodeSums(double Sq, double Sqq, double Sqw)
    {
        /// <summary>Σ c·q, Σ c·q² and Σ c·q·w over the nearest integers q for <paramref name="scale"/> and <paramref name="min"/>.</summary>
        public static CodeSums Of(float* w, float* c, int n, float scale, float min)
        {
            var inv = 1f / scale;
            var k = 0;
            double sq = 0, sqq = 0, sqw = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var (vinv, vmin, top) = (Vector256.Create(inv), Vector256.Create(min), Vector256.Create((float)Levels));
                Vector256<float> aq = default, aqq = default, aqw = default;
                for (; k + 8 <= n; k += 8)
                {
                    var wk = Vector256.Load(w + k);
                    var qk = Vector256.Min(Vector256.Max(Vector256.Round((wk - vmin) * vinv), Vector256<float>.Zero), top);
                    var cq = c == null ? qk : qk * Vector256.Load(c + k);
                    aq += cq; aqq += cq * qk; aqw += cq * wk;
                }
                (sq, sqq, sqw) = (Vector256.Sum(aq), Vector256.Sum(aqq), Vector256.Sum(aqw));
            }
            for (; k < n; k++)
            {
                var qk = Math.Clamp(MathF.Round((w[k] - min) * inv), 0, Levels);
                var ck = c == null ? 1.0 : c[k];
                sq += ck * qk; sqq += ck * qk * qk; sqw += ck * qk * w[k];
            }
            return new CodeSums(sq, sqq, sqw);
        }

        /// <summary>
        /// The scale and min minimising Σ c (scale · q + min − w)² for these integers (the 2×2 normal equations); false
        /// when the integers are all equal or the scale comes out non-positive.
        /// </summary>
        public bool LeastSquares(in Sums g, out float scale, out float min)
        {
            var det = g.S * Sqq - Sq * Sq;
            scale = min = 0;
            if (det <= 1e-12 * g.S * Sqq) return false;
            scale = (float)((g.S * Sqw - Sq * g.Sw) / det);
            min = (float)((Sqq * g.Sw - Sq * Sqw) / det);
            return scale > 0;
        }
    }

    /// <summary>The plain fit: scale = (max − min) / 15, q = round((w − min) / scale).</summary>
    public static (float Scale, float Min) MinMax(float* w, int n, float lo, float hi, byte* q)
    {
        var scale = (hi - lo) / Levels;
        Assign(w, n, scale, lo, q);
        return (scale, lo);
    }

    /// <summary>The nearest integer in [0, 15] to each (w − min) / scale.</summary>
    public static void Assign(float* w, int n, float scale, float min, byte* q)
    {
        var inv = scale == 0 ? 0f : 1f / scale;
        for (var k = 0; k < n; k++) q[k] = (byte)Math.Clamp(MathF.Round((w[k] - min) * inv), 0, Levels);
    }
}
