using System.Globalization;

namespace LayerSkip.Samples.Worker;

/// <summary>What one run of the worker measured.</summary>
public sealed class ThroughputReport
{
    public int Prompts { get; set; }
    public long OutputTokens { get; set; }
    public TimeSpan Elapsed { get; set; }
    public double SpeedupRatio { get; set; }
    public string Policy { get; set; } = "";
    public Exception? Error { get; set; }
    public bool Completed { get; set; }
    /// <summary>An untimed batch ran first, so the measured one ran on a warm host.</summary>
    public bool WarmedUp { get; set; }
    public double TokensPerSecond => Elapsed.TotalSeconds > 0 ? OutputTokens / Elapsed.TotalSeconds : 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"speedup {SpeedupRatio:0.##} ({Policy}): {Prompts} prompts, {OutputTokens} tokens in {Elapsed.TotalSeconds:0.00} s = {TokensPerSecond:0.0} tok/s{(WarmedUp ? " (warm)" : " (cold)")}");
}
