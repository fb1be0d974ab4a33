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
    public void BenchJsonAndPeerJsonLinesAreRead()
    {
        var bench = ResultRow.Load(Repository.PathOf("docs", "results", "bench-llama-1b-bf16.json"));
        Assert.Contains(bench, r => r.Text("policy") == "full" && r.Number("batch") == 1 && r.Number("decode_tokens_per_s") > 0);

        var file = Path.Combine(Path.GetTempPath(), $"peer-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(file,
        [
            """{"engine":"layerskip","weights":"bf16","ratio":2,"decode_tok_s_median":11.3,"decode_tok_s_min":10.9,"decode_tok_s_max":11.8}""",
            """{"engine":"llama.cpp","weights":"q8_0","ratio":1,"decode_tok_s_median":14.2,"decode_tok_s_min":13.9,"decode_tok_s_max":14.6}""",
        ]);
        try
        {
            var rows = ResultRow.Load(file);
            Assert.Equal(11.3, rows[0].NumberLike("decode", "median"));
            Assert.Equal(13.9, rows[1].NumberLike("decode", "min"));
            var png = Path.ChangeExtension(file, ".png");
            Charts.Peer(rows, "peer", png);
            var bytes = File.ReadAllBytes(png);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            File.Delete(png);
        }
        finally
        {
            File.Delete(file);
        }
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
