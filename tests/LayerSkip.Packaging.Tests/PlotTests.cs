using System.Text.RegularExpressions;
using LayerSkip.Plots;

namespace LayerSkip.Packaging.Tests;

/// <summary>The plotting tool reads the result files as written and draws PNGs; the docs link only pictures that exist.</summary>
public sealed class PlotTests
{
    [Fact]
    public void EvalMarkdownRowsAreReadWithTheirNumbers()
    {
        var rows = ResultRow.Load(Repository.PathOf("docs", "results", "eval-stories260K.md"));
        Assert.Equal(19, rows.Count);
        var unified = rows.Single(r => r.Text("policy") == "unified" && r.Number("target_r") == 1.25);
        Assert.Equal(9.93, unified.Number("perplexity"));
        Assert.Equal(53.4, unified.Number("greedy_agreement"));
        Assert.Equal("0,1,2,4", unified.Text("layers_run"));
    }

    [Fact]
    public void BenchJsonRowsAreRead()
    {
        var bench = ResultRow.Load(Repository.PathOf("docs", "results", "bench-llama-1b-bf16.json"));
        Assert.Contains(bench, r => r.Text("policy") == "full" && r.Number("batch") == 1 && r.Number("decode_tokens_per_s") > 0);
    }

    [Fact]
    public void ThePeerChartReadsTheLinesLayerskipBenchPeerWrites()
    {
        // The file layerskip-bench peer wrote for docs/benchmarks.md: round lines, then one summary per configuration.
        var path = Repository.PathOf("docs", "results", "peer-llama-1b.jsonl");
        var series = Charts.PeerDecode(ResultRow.Load(path));
        Assert.Equal(["ours bf16", "ours int8", "ours int4", "llama.cpp BF16", "llama.cpp Q8_0", "llama.cpp Q4_0"], series.Select(s => s.Label));
        // Each point is the file's summary line for that configuration: r, median, min, max.
        var summaries = File.ReadLines(path).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("kind").GetString() == "summary" && e.GetProperty("metric").GetString() == "decode").ToList();
        (double, double, double?, double?) Summary(string engine, string weights, double r)
        {
            var e = summaries.Single(e => e.GetProperty("engine").GetString() == engine && e.GetProperty("weights").GetString() == weights &&
                e.GetProperty("r").GetDouble() == r);
            return (r, e.GetProperty("tokens_per_s").GetDouble(), e.GetProperty("min").GetDouble(), e.GetProperty("max").GetDouble());
        }
        Assert.Equal([Summary("ours", "bf16", 1), Summary("ours", "bf16", 2)], series.Single(s => s.Label == "ours bf16").Points);
        Assert.Equal(Summary("llama.cpp", "Q4_0", 1), series.Single(s => s.Label == "llama.cpp Q4_0").Points.Single());

        // An interrupted run has only round lines: the chart takes their median and range, which here are the summaries'.
        var rounds = File.ReadAllLines(path).Where(l => l.Contains("\"kind\":\"round\"")).ToArray();
        var file = Path.Combine(Path.GetTempPath(), $"peer-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(file, rounds);
        try
        {
            Assert.Equal(series.Select(s => (s.Label, string.Join(";", s.Points))),
                Charts.PeerDecode(ResultRow.Load(file)).Select(s => (s.Label, string.Join(";", s.Points))));
            var png = Path.ChangeExtension(file, ".png");
            Charts.Peer(ResultRow.Load(file), "peer", png);
            var bytes = File.ReadAllBytes(png);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            File.Delete(png);
        }
        finally
        {
            File.Delete(file);
        }
        // Rows without decode numbers are an error that names the chart, not an empty picture.
        Assert.Throws<InvalidDataException>(() => Charts.Peer(ResultRow.Load(Repository.PathOf("docs", "results", "eval-stories260K.md")), "not a peer file", Path.Combine(Path.GetTempPath(), "never.png")));
    }

    [Fact]
    public void ABrokenResultFileNamesItself()
    {
        var file = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, "[{\"policy\": ");
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => ResultRow.Load(file));
            Assert.Contains(file, e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void EveryPictureTheDocsLinkExists()
    {
        var linked = 0;
        foreach (var md in Directory.GetFiles(Repository.PathOf("docs"), "*.md").Append(Repository.PathOf("README.md")))
            foreach (Match m in Regex.Matches(File.ReadAllText(md), @"!\[[^\]]*\]\(([^)]+\.png)\)"))
            {
                linked++;
                Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(md)!, m.Groups[1].Value)), $"{md} links the missing picture {m.Groups[1].Value}");
            }
        Assert.True(linked >= 4, "docs/benchmarks.md shows the plots");
    }
}
