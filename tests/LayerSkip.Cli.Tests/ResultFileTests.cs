using LayerSkip.Tests;
using System.Text.Json;
using LayerSkip.Cli.Output;
using static LayerSkip.Cli.Tests.CliTests;

namespace LayerSkip.Cli.Tests;

/// <summary>bench and eval write each row to --json as one JSON line when it is measured; the tables still come at the end.</summary>
public class ResultFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("layerskip-cli-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void EachRowIsOnDiskAsSoonAsItIsWritten()
    {
        var path = Path.Combine(_folder, "rows.jsonl");
        using var file = new JsonLinesFile(path);
        file.Write(new { policy = "full", speedup = 1.0 });
        // Read while the writer is still open, as after an interruption.
        using (var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)))
            Assert.Equal("{\"policy\":\"full\",\"speedup\":1}", reader.ReadToEnd().Trim());
        file.Write(new { policy = "unified", speedup = 2.0 });
        using (var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)))
            Assert.Equal(2, reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void EvalWritesOneJsonLinePerTableRow()
    {
        var json = Path.Combine(_folder, "eval.jsonl");
        var (code, stdout, stderr) = Run("eval", "--model", SharedData.Stories260K, "--file", SharedData.Path("data", "tinystories_dev.txt"),
            "--max-tokens", "1500", "--speedup", "1.25,2.5", "--policy", "unified,earlyexit", "--json", json);
        Assert.True(code == 0, stderr);
        var rows = File.ReadAllLines(json).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["full", "unified", "earlyexit", "unified", "earlyexit"], rows.Select(r => r.GetProperty("policy").GetString()));
        Assert.Equal([1, 1.25, 1.25, 2.5, 2.5], rows.Select(r => r.GetProperty("target").GetDouble()));
        Assert.Equal(1.0, rows[0].GetProperty("greedy_agreement").GetDouble());
        // Generated continuations: full depth agrees with itself; the 2-of-5-layer plans generate text the full model finds worse.
        Assert.Equal(1.0, rows[0].GetProperty("generated_agreement").GetDouble());
        Assert.True(rows[0].GetProperty("generated_tokens").GetInt32() > 0);
        Assert.True(rows[3].GetProperty("generated_nats_per_token").GetDouble() > rows[0].GetProperty("generated_nats_per_token").GetDouble());
        Assert.True(rows[3].GetProperty("generated_agreement").GetDouble() < 1.0);
        // The table rows on stdout carry the same perplexities, in the same order.
        var table = stdout.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| policy", StringComparison.Ordinal)).ToList();
        Assert.Equal(rows.Count, table.Count);
        for (var i = 0; i < rows.Count; i++)
            Assert.Equal(rows[i].GetProperty("perplexity").GetDouble(), double.Parse(table[i].Split('|')[6], System.Globalization.CultureInfo.InvariantCulture), 2);
        // Each row was also shown on stderr as it was measured, and the work is reported as done.
        Assert.Contains("| earlyexit | 2.5 |", stderr);
        Assert.Contains("[eval] done:", stderr);
    }

    [Fact]
    public void BenchAppendsOneJsonLinePerMeasuredPlan()
    {
        var json = Path.Combine(_folder, "bench.jsonl");
        File.WriteAllText(json, "{\"earlier\":true}\n");
        var (code, stdout, stderr) = Run("bench", "--shape", "stories260K", "--dtype", "float32", "--batch", "1", "--speedup", "1,2",
            "--policy", "unified,earlyexit", "--tokens", "4", "--prompt-tokens", "8", "--repeats", "1", "--json", json);
        Assert.True(code == 0, stderr);
        var lines = File.ReadAllLines(json);
        Assert.Equal("{\"earlier\":true}", lines[0]); // appended, not overwritten
        var rows = lines.Skip(1).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["full", "unified", "earlyexit"], rows.Select(r => r.GetProperty("policy").GetString()));
        Assert.All(rows, r => Assert.True(r.GetProperty("decode_tokens_per_s").GetDouble() > 0));
        Assert.Equal(1.0, rows[0].GetProperty("speedup").GetDouble());
        Assert.Contains("| stories260K | float32 | 1 | earlyexit |", stdout);
    }
}
