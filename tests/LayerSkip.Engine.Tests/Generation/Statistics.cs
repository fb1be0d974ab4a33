namespace LayerSkip.Engine.Tests.Generation;

/// <summary>Pearson's chi-square goodness-of-fit test for sampled token counts.</summary>
internal static class Statistics
{
    /// <summary>Pearson's statistic, pooling bins with expected count below 5.</summary>
    public static double ChiSquare(int[] observed, double[] probabilities, out int degreesOfFreedom)
    {
        var n = observed.Sum();
        double stat = 0, pooledObserved = 0, pooledExpected = 0;
        var bins = 0;
        for (var i = 0; i < observed.Length; i++)
        {
            var e = probabilities[i] * n;
            if (e < 5) { pooledObserved += observed[i]; pooledExpected += e; continue; }
            stat += (observed[i] - e) * (observed[i] - e) / e;
            bins++;
        }
        if (pooledExpected > 0) { stat += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected; bins++; }
        degreesOfFreedom = bins - 1;
        return pooledExpected == 0 && pooledObserved > 0 ? double.PositiveInfinity : stat; // tokens outside the support
    }

    /// <summary>The 99.9th percentile of chi-square (Wilson–Hilferty approximation).</summary>
    public static double ChiSquareCritical(int df)
    {
        const double z = 3.090; // one-sided 0.001
        var a = 2.0 / (9 * df);
        return df * Math.Pow(1 - a + z * Math.Sqrt(a), 3);
    }

    /// <summary>Whether the counts fit the distribution at the 0.1 % level.</summary>
    public static bool Fits(int[] observed, double[] probabilities) =>
        ChiSquare(observed, probabilities, out var df) < ChiSquareCritical(df);
}
