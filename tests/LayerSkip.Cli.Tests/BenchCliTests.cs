using System.Diagnostics;
using System.Text.Json;
using LayerSkip.Tests;

namespace LayerSkip.Cli.Tests;

/// <summary><c>layerskip bench</c>: medians with their spread; <c>bench-chat</c>: requests through the chat client.</summary>
public sealed class BenchCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("bench-cli-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "layerskip.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException("layerskip did not finish"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void Bench_sampling_times_every_setting_on_both_paths()
    {
        var (code, stdout, stderr) = Run("bench-sampling", "--shape", "stories260K", "--batch", "2", "--seconds", "0.02");
        Assert.True(code == 0, stderr);
        var rows = stdout.Split('\n').Where(l => l.StartsWith("| ") && !l.StartsWith("| setting")).Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToList();
        Assert.Equal(12, rows.Count); // six settings, in place and with libtorch ops
        Assert.Equal(2, rows.Select(r => r[3]).Distinct().Count());
        Assert.All(rows, r => Assert.True(double.Parse(r[4].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) > 0, string.Join("|", r)));
    }

    [Fact]
    public void Bench_speculative_times_copied_and_model_drafts_on_prompts_from_a_file()
    {
        var prompts = Path.Combine(_folder, "prompts.txt");
        File.WriteAllText(prompts, "Tom had a red ball. Tom liked the red ball.\n\nLily saw a cat. The cat was big.\n\nA third passage.");
        var json = Path.Combine(_folder, "spec.jsonl");
        var (code, stdout, stderr) = Run("bench-speculative", "--model", SharedData.Stories260K, "--batch", "1,2", "--speedup", "2",
            "--draft-source", "lookup,model", "--prompts", prompts, "--prompt-tokens", "12", "--tokens", "12", "--json", json);
        Assert.True(code == 0, stderr);
        var rows = File.ReadAllLines(json).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, rows.Count); // each source at each batch size
        var lookup = rows.Where(r => r.GetProperty("draft_source").GetString() == "lookup").ToList();
        Assert.Equal([1, 2], lookup.Select(r => r.GetProperty("batch").GetInt32()));
        Assert.All(lookup, r => Assert.Equal(5, r.GetProperty("kept_layers").GetInt32())); // copied drafts run no plan
        Assert.All(rows, r => Assert.True(r.GetProperty("identical").GetBoolean()));
        Assert.Contains("| lookup |", stdout);

        var (few, _, fewErr) = Run("bench-speculative", "--model", SharedData.Stories260K, "--batch", "4", "--prompts", prompts, "--tokens", "4");
        Assert.Equal(2, few);
        Assert.Contains("3 passages", fewErr);
    }

    [Fact]
    public void Bench_matvec_times_each_projection_per_row_count_against_one_row()
    {
        var (code, stdout, stderr) = Run("bench-matvec", "--shape", "stories260K", "--quantize", "none,int4", "--rows", "1,4", "--seconds", "0.02");
        Assert.True(code == 0, stderr);
        var rows = stdout.Split('\n').Where(l => l.StartsWith("| ") && !l.StartsWith("| matrix")).Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToList();
        // Five projections × (libtorch, bf16, int4) × two row counts; only the four-row products carry a ratio to one row.
        Assert.Equal(5 * 3 * 2, rows.Count);
        Assert.All(rows, r => Assert.Equal(r[4] == "4", r[9].Length > 0));
        Assert.All(rows, r => Assert.True(double.Parse(r[6], System.Globalization.CultureInfo.InvariantCulture) > 0, string.Join("|", r)));
        var tooMany = Run("bench-matvec", "--shape", "stories260K", "--rows", "9");
        Assert.Equal(2, tooMany.Code);
        Assert.Contains("--rows", tooMany.Err);
    }

    [Fact]
    public void Bench_reports_the_median_round_between_the_slowest_and_fastest()
    {
        var json = Path.Combine(_folder, "bench.json");
        var (code, stdout, stderr) = Run("bench", "--shape", "stories260K", "--dtype", "float32", "--batch", "1", "--speedup", "1,2",
            "--policy", "unified", "--tokens", "4", "--prompt-tokens", "8", "--repeats", "3", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("median of 3", stdout);
        var rows = File.ReadAllLines(json).Select(l => JsonDocument.Parse(l).RootElement).ToList(); // one JSON object per line
        Assert.Equal(2, rows.Count);
        foreach (var row in rows)
        {
            Assert.Equal(3, row.GetProperty("rounds").GetInt32());
            var (median, min, max) = (row.GetProperty("decode_tokens_per_s").GetDouble(), row.GetProperty("decode_min").GetDouble(), row.GetProperty("decode_max").GetDouble());
            Assert.InRange(median, min, max);
            Assert.True(min > 0);
        }
    }

    [Fact]
    public void Bench_e2e_times_chat_and_agent_requests_through_the_chat_client()
    {
        var json = Path.Combine(_folder, "e2e.jsonl");
        var (code, stdout, stderr) = Run("bench-chat", "--model", SharedData.Stories260K, "--scenario", "chat,agent", "--mode", "r1,r2,spec",
            "--concurrency", "1,3", "--requests", "2", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("TTFT ms", stdout);
        var rows = File.ReadAllLines(json).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2 * 3 * 2, rows.Count); // scenarios × modes × concurrency levels
        foreach (var row in rows)
        {
            var concurrency = row.GetProperty("concurrency").GetInt32();
            Assert.Equal(concurrency == 1 ? 2 : 3, row.GetProperty("requests").GetInt32());
            Assert.True(row.GetProperty("output_tokens").GetInt32() >= row.GetProperty("requests").GetInt32());
            Assert.InRange(row.GetProperty("ttft_ms").GetDouble(), row.GetProperty("ttft_ms_min").GetDouble(), row.GetProperty("ttft_ms_max").GetDouble());
            Assert.True(row.GetProperty("ttft_ms_min").GetDouble() <= row.GetProperty("latency_ms_min").GetDouble() + 1e-9);
            Assert.True(row.GetProperty("aggregate_tokens_per_s").GetDouble() > 0);
        }
        // The agent's system prompt and tool declarations make its prompts longer than the chat's.
        int Prompt(string scenario) => rows.First(r => r.GetProperty("scenario").GetString() == scenario).GetProperty("prompt_tokens").GetInt32();
        Assert.True(Prompt("agent") > Prompt("chat") + 20, $"agent {Prompt("agent")} vs chat {Prompt("chat")} prompt tokens");
    }

    [Theory]
    [InlineData("--shape", "llama-1b", "--tokenizer-from")]
    [InlineData("--mode", "fast", "Unknown mode 'fast'")]
    [InlineData("--scenario", "poem", "Unknown scenario 'poem'")]
    public void Bench_e2e_rejects_bad_options_by_name(string option, string value, string message)
    {
        var args = option == "--shape" ? new[] { "bench-chat", option, value } : ["bench-chat", "--model", SharedData.Stories260K, option, value];
        var (code, _, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
    }
}
