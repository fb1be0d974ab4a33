using ScottPlot;

namespace LayerSkip.Plots;

/// <summary>The three pictures: quality against speedup, decode speed against ratio, ours against a peer engine.</summary>
public static class Charts
{
    private const int Width = 900, Height = 560;

    private static readonly Dictionary<string, Color> PolicyColors = new()
    {
        ["full"] = Colors.Black,
        ["unified"] = new Color(0x1f, 0x77, 0xb4),
        ["unifiedeven"] = new Color(0x17, 0xbe, 0xcf),
        ["earlyexit"] = new Color(0xff, 0x7f, 0x0e),
        ["skipbottom"] = new Color(0xd6, 0x27, 0x28),
        ["random"] = new Color(0x7f, 0x7f, 0x7f),
        ["calibrated"] = new Color(0x2c, 0xa0, 0x2c),
        ["router"] = new Color(0x94, 0x67, 0xbd),
    };

    private static Color ColorOf(string series, int index) =>
        PolicyColors.TryGetValue(series, out var c) ? c : new ScottPlot.Palettes.Category10().GetColor(index);

    private static double Ratio(ResultRow r) => r.Number("target_r", "target", "r", "speedup_ratio", "ratio") ?? 1;

    /// <summary>
    /// Perplexity (log scale) against the target speedup ratio, one line per policy; the full model is the dashed
    /// baseline. Rows with "training-free ppl" and "adapted ppl" columns (skip-aware adaptation tables) get both, the
    /// training-free line dashed.
    /// </summary>
    public static void Quality(IReadOnlyList<ResultRow> rows, string title, string output)
    {
        var plot = NewPlot(title, "target speedup ratio r (layers kept = floor(L / r))", "perplexity (log scale, lower is better)");
        var adapted = rows.Any(r => r.Has("adapted_ppl"));
        var full = rows.FirstOrDefault(r => r.Text("policy") == "full");
        var fullPpl = full?.Number("perplexity", "training_free_ppl");
        if (fullPpl is { } f)
        {
            var line = plot.Add.HorizontalLine(Math.Log10(f));
            line.LinePattern = LinePattern.Dashed;
            line.Color = Colors.Black;
            line.LegendText = $"full depth ({f:0.##})";
        }

        var policies = rows.Select(r => r.Text("policy")!).Where(p => p is not null && p != "full").Distinct().ToList();
        for (var i = 0; i < policies.Count; i++)
        {
            var mine = rows.Where(r => r.Text("policy") == policies[i]).OrderBy(Ratio).ToList();
            if (adapted)
            {
                AddLine(plot, mine, r => r.Number("training_free_ppl"), $"{policies[i]}, training-free", ColorOf(policies[i], i), dashed: true);
                AddLine(plot, mine, r => r.Number("adapted_ppl"), $"{policies[i]}, adapted", ColorOf(policies[i], i), dashed: false);
            }
            else
            {
                AddLine(plot, mine, r => r.Number("perplexity"), policies[i], ColorOf(policies[i], i), dashed: false);
            }
        }
        LogY(plot);
        Save(plot, output);
    }

    /// <summary>
    /// Decode tokens/s against the target ratio for one batch size, one line per policy, with full depth at r = 1 and
    /// the "ideal" line (full speed × (layers + head) / (kept + head)) where the rows carry it.
    /// </summary>
    public static void Speed(IReadOnlyList<ResultRow> rows, int batch, string title, string output)
    {
        var mine = rows.Where(r => (int)(r.Number("batch") ?? 1) == batch).ToList();
        if (mine.Count == 0) throw new InvalidDataException($"No rows for batch {batch}.");
        var plot = NewPlot(title, "target speedup ratio r", "decode tokens/s (higher is better)");
        var full = mine.FirstOrDefault(r => r.Text("policy") == "full");
        var fullSpeed = full?.Number("decode_tokens_per_s", "decode_tok_s");

        var ideal = mine.Where(r => r.Has("ideal_speedup") && fullSpeed is not null).GroupBy(Ratio).OrderBy(g => g.Key)
            .Select(g => (X: g.Key, Y: fullSpeed!.Value * g.First().Number("ideal_speedup")!.Value)).ToList();
        if (ideal.Count > 0)
        {
            var s = plot.Add.Scatter(ideal.Select(p => p.X).ToArray(), ideal.Select(p => p.Y).ToArray());
            s.LinePattern = LinePattern.Dashed;
            s.Color = Colors.Gray;
            s.MarkerSize = 0;
            s.LegendText = "ideal: time ∝ weights read (head incl.)";
        }

        var policies = mine.Select(r => r.Text("policy")!).Where(p => p is not null && p != "full").Distinct().ToList();
        for (var i = 0; i < policies.Count; i++)
        {
            var series = (full is null ? [] : new[] { full }).Concat(mine.Where(r => r.Text("policy") == policies[i])).OrderBy(Ratio).ToList();
            AddLine(plot, series, r => r.Number("decode_tokens_per_s", "decode_tok_s"), policies[i], ColorOf(policies[i], i), dashed: false);
        }
        FromZero(plot);
        Save(plot, output);
    }

    /// <summary>One engine and weight format of a peer comparison: decode tokens/s (median, min, max) at each ratio.</summary>
    public sealed record PeerSeries(string Label, IReadOnlyList<(double Ratio, double Median, double? Min, double? Max)> Points);

    /// <summary>
    /// The decode series of a peer comparison as <c>layerskip-bench peer</c> writes it: JSON lines with engine,
    /// weights, r, metric ("decode" or "prefill") and tokens_per_s, min, max; one "summary" line per configuration and
    /// metric after its "round" lines. Where a configuration has no summary (an interrupted run), the median and
    /// range of its rounds.
    /// </summary>
    public static IReadOnlyList<PeerSeries> PeerDecode(IReadOnlyList<ResultRow> rows)
    {
        var decode = rows.Where(r => (r.Text("metric") ?? "decode") == "decode" && r.Number("tokens_per_s") is not null);
        return decode
            .GroupBy(r => $"{r.Text("engine") ?? "?"} {r.Text("weights") ?? ""}".Trim())
            .Select(engine => new PeerSeries(engine.Key, engine
                .GroupBy(Ratio)
                .Select(at =>
                {
                    if (at.LastOrDefault(r => r.Text("kind") == "summary") is { } summary)
                        return (at.Key, summary.Number("tokens_per_s")!.Value, summary.Number("min"), summary.Number("max"));
                    var rounds = at.Select(r => r.Number("tokens_per_s")!.Value).Order().ToArray();
                    var median = rounds.Length % 2 == 1 ? rounds[rounds.Length / 2] : (rounds[rounds.Length / 2 - 1] + rounds[rounds.Length / 2]) / 2;
                    return (at.Key, median, (double?)rounds[0], (double?)rounds[^1]);
                })
                .OrderBy(p => p.Item1)
                .ToList()))
            .ToList();
    }

    /// <summary>
    /// Ours against a peer engine (e.g. llama.cpp): median decode tokens/s against the ratio, one line per engine and
    /// weight format, with the min–max range as a vertical bar (rows as <see cref="PeerDecode"/> reads them).
    /// </summary>
    public static void Peer(IReadOnlyList<ResultRow> rows, string title, string output)
    {
        var series = PeerDecode(rows);
        if (series.Count == 0) throw new InvalidDataException($"No decode rows (engine, weights, r, metric, tokens_per_s) to draw for '{title}'.");
        var plot = NewPlot(title, "speedup ratio r (1 = every layer)", "decode tokens/s, median of rounds (bar: min–max)");
        for (var i = 0; i < series.Count; i++)
        {
            var color = new ScottPlot.Palettes.Category10().GetColor(i);
            // Series side by side around each ratio, so the min–max bars at r = 1 do not hide each other.
            var shift = (i - (series.Count - 1) / 2.0) * 0.012;
            var points = series[i].Points.Select(p => p with { Ratio = p.Ratio + shift }).ToList();
            var s = plot.Add.Scatter(points.Select(p => p.Ratio).ToArray(), points.Select(p => p.Median).ToArray());
            s.Color = color;
            s.LegendText = series[i].Label;
            s.MarkerSize = 8;
            foreach (var p in points.Where(p => p.Min is not null && p.Max is not null))
            {
                var bar = plot.Add.Line(p.Ratio, p.Min!.Value, p.Ratio, p.Max!.Value);
                bar.Color = color;
                bar.LineWidth = 3;
            }
        }
        FromZero(plot);
        Save(plot, output);
    }

    private static Plot NewPlot(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        return plot;
    }

    private static void AddLine(Plot plot, IReadOnlyList<ResultRow> rows, Func<ResultRow, double?> value, string legend, Color color, bool dashed)
    {
        var points = rows.Select(r => (X: Ratio(r), Y: value(r))).Where(p => p.Y is not null).ToList();
        if (points.Count == 0) return;
        var log = legend.Length > 0 && plot.Axes.Left.Label.Text.Contains("log scale");
        var s = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => log ? Math.Log10(p.Y!.Value) : p.Y!.Value).ToArray());
        s.LegendText = legend;
        s.Color = color;
        s.LineWidth = 2;
        s.MarkerSize = 7;
        if (dashed) s.LinePattern = LinePattern.Dashed;
    }

    /// <summary>ScottPlot draws linear axes: AddLine log10'd the values; ticks at 1, 2, 5 × 10^n name the real numbers.</summary>
    private static void LogY(Plot plot)
    {
        plot.Axes.AutoScale();
        var limits = plot.Axes.GetLimits();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (var decade = (int)Math.Floor(limits.Bottom); decade <= (int)Math.Ceiling(limits.Top); decade++)
            foreach (var k in new[] { 1, 2, 5 })
            {
                var value = k * Math.Pow(10, decade);
                ticks.AddMajor(Math.Log10(value), value.ToString("G4", System.Globalization.CultureInfo.InvariantCulture));
            }
        plot.Axes.Left.TickGenerator = ticks;
    }

    /// <summary>Speeds are read against zero, so the proportion to the ratio shows: an invisible point at y = 0
    /// makes the automatic limits include it.</summary>
    private static void FromZero(Plot plot)
    {
        var x = plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>()
            .SelectMany(s => s.Data.GetScatterPoints()).Select(p => p.X).DefaultIfEmpty(1).Min();
        var zero = plot.Add.Marker(x, 0);
        zero.Size = 0;
        zero.Color = Colors.Transparent;
    }

    private static void Save(Plot plot, string output)
    {
        plot.ShowLegend(Edge.Right);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        plot.SavePng(output, Width, Height);
        Console.WriteLine($"wrote {output}");
    }
}
