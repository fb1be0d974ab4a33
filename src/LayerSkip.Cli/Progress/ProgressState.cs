using System.Globalization;

namespace LayerSkip.Cli.Progress;

/// <summary>The task being shown: what it is, how far it got, since when; and its one-line description.</summary>
internal sealed class ProgressState(string label, long total, string unit, TimeSpan started)
{
    public string Label { get; } = label;
    public string Unit { get; } = unit;
    public TimeSpan Started { get; } = started;
    public long Total { get; set; } = total;
    public long Done { get; set; }
    public string? Detail { get; set; }

    public double? Fraction => Total > 0 ? Math.Clamp((double)Done / Total, 0, 1) : null;

    /// <summary>"12/40 windows (30%), 0:41 elapsed, ETA 1:35, loss 2.910" — the counts and ETA only when the length is known.</summary>
    public string Describe(TimeSpan now)
    {
        var elapsed = now - Started;
        var parts = new List<string>();
        if (Total > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{Done}/{Total}{(Unit.Length > 0 ? " " + Unit : "")} ({Fraction * 100:0}%)"));
            parts.Add($"{Clock(elapsed)} elapsed");
            if (Done > 0 && Done < Total) parts.Add($"ETA {Clock(elapsed * ((double)(Total - Done) / Done))}");
        }
        else parts.Add($"{Clock(elapsed)} elapsed");
        if (!string.IsNullOrEmpty(Detail)) parts.Add(Detail);
        return string.Join(", ", parts);
    }

    /// <summary>"done: 40/40 windows in 1:35", or "stopped at 12/40 windows after 0:41" when it ended early (an error, --stop-at).</summary>
    public string DescribeFinished(TimeSpan now)
    {
        var time = Clock(now - Started);
        if (Total <= 0) return $"done in {time}";
        var count = string.Create(CultureInfo.InvariantCulture, $"{Done}/{Total}{(Unit.Length > 0 ? " " + Unit : "")}");
        var detail = string.IsNullOrEmpty(Detail) ? "" : ", " + Detail;
        return Done >= Total ? $"done: {count} in {time}{detail}" : $"stopped at {count} after {time}{detail}";
    }

    /// <summary>m:ss, or h:mm:ss past an hour; seconds with a decimal under ten seconds.</summary>
    public static string Clock(TimeSpan t)
    {
        if (t < TimeSpan.Zero) t = TimeSpan.Zero;
        if (t.TotalSeconds < 10) return string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.0} s");
        return t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}:{t.Seconds:00}");
    }
}
