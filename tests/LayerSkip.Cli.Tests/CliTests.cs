using System.Diagnostics;
using System.Globalization;
using LayerSkip.Tests;

namespace LayerSkip.Cli.Tests;

/// <summary>The layerskip command line, run as a process the way users run it.</summary>
public class CliTests
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "layerskip.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException("layerskip did not finish"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string LastLine(string text) => text.TrimEnd().Split('\n')[^1].Trim();

    [Theory]
    [InlineData(32, 2, "unified", "0 2 4 6 8 10 12 14 16 18 20 22 24 26 28 31")]
    [InlineData(32, 5, "unified", "0 6 12 18 24 31")]
    [InlineData(30, 5, "unified", "0 6 12 18 24 29")]
    [InlineData(32, 4, "earlyexit", "0 1 2 3 4 5 6 7")]
    public void PlanPrintsTheKeptLayersLast(int layers, double speedup, string policy, string expected)
    {
        var (code, stdout, _) = Run("plan", "--layers", layers.ToString(), "--speedup", speedup.ToString(CultureInfo.InvariantCulture), "--policy", policy);
        Assert.Equal(0, code);
        Assert.Equal("kept: " + expected, LastLine(stdout));
    }

    [Fact]
    public void GeneratePrintsOnlyTheContinuation()
    {
        var (code, stdout, stderr) = Run("generate", "--model", SharedData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "20", "--temperature", "0");
        Assert.Equal(0, code);
        Assert.StartsWith(", there was a little girl named Lily", stdout);
        Assert.Contains("tokens/s", stderr);
        Assert.DoesNotContain("tokens/s", stdout);
    }

    [Fact]
    public void QuantizedGenerateTakesTheGroupSizeAndTheHeadFormat()
    {
        string[] common = ["generate", "--model", SharedData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "20", "--temperature", "0"];
        var mixed = Run([.. common, "--quantize", "int4", "--group-size", "32", "--quantize-head", "int8"]);
        Assert.True(mixed.Code == 0, mixed.Err);
        Assert.Contains("tokens/s", mixed.Err);
        var headOnly = Run([.. common, "--quantize-head", "int8"]);
        Assert.Equal(2, headOnly.Code);
        Assert.Contains("--quantize-head", headOnly.Err);
        var badGroup = Run([.. common, "--quantize", "int4", "--group-size", "192"]);
        Assert.Equal(2, badGroup.Code);
        Assert.Contains("power of two", badGroup.Err);
    }

    [Fact]
    public void SpeculativeGenerateWritesThePlainGreedyTextAndReportsAcceptance()
    {
        string[] common = ["generate", "--model", SharedData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "60", "--temperature", "0"];
        var plain = Run(common);
        Assert.Equal(0, plain.Code);
        foreach (var (speedup, draft) in new[] { ("1.25", "4"), ("2.5", "6") })
        {
            var speculative = Run([.. common, "--mode", "speculative", "--speedup", speedup, "--draft-tokens", draft]);
            Assert.Equal(0, speculative.Code);
            Assert.Equal(plain.Out, speculative.Out);
            Assert.Matches(@"decode \d+\.\d tokens/s; acceptance \d+\s?% \(\d+/\d+ drafts, \d+ full-depth passes\)", speculative.Err);
            Assert.Contains("[speculative, drafts by unified r=" + speedup, speculative.Err);
        }
        var bad = Run([.. common, "--mode", "speculative"]);
        Assert.Equal(2, bad.Code);
        Assert.Contains("--speedup", bad.Err);
    }

    [Fact]
    public void DraftsCopiedFromTheContextWriteThePlainGreedyText()
    {
        string[] common = ["generate", "--model", SharedData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "80", "--temperature", "0"];
        var plain = Run(common);
        Assert.Equal(0, plain.Code);
        var lookup = Run([.. common, "--mode", "speculative", "--draft-source", "lookup", "--draft-tokens", "4"]);
        Assert.Equal(0, lookup.Code);
        Assert.Equal(plain.Out, lookup.Out);
        Assert.Contains("[speculative, drafts copied from the context]", lookup.Err);
        Assert.Matches(@"decode \d+\.\d tokens/s; acceptance \d+\s?% \(\d+/\d+ drafts, \d+ full-depth passes\)", lookup.Err);
        foreach (var (extra, message) in new[]
        {
            (new[] { "--draft-source", "lookup" }, "--draft-source is for --mode speculative"),
            (["--mode", "speculative", "--draft-source", "lookup", "--speedup", "2"], "drop --speedup"),
            (["--mode", "speculative", "--draft-source", "lookup", "--draft-precision", "int4"], "drop --draft-precision"),
        })
        {
            var bad = Run([.. common, .. extra]);
            Assert.Equal(2, bad.Code);
            Assert.Contains(message, bad.Err);
        }
    }

    [Fact]
    public void LowPrecisionDraftsWriteThePlainGreedyTextAndSaySo()
    {
        string[] common = ["generate", "--model", SharedData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "60", "--temperature", "0"];
        var plain = Run(common);
        Assert.Equal(0, plain.Code);
        foreach (var (speedup, precision) in new[] { ("1", "int4"), ("1.5", "int8") })
        {
            var speculative = Run([.. common, "--mode", "speculative", "--speedup", speedup, "--draft-precision", precision, "--draft-tokens", "4"]);
            Assert.Equal(0, speculative.Code);
            Assert.Equal(plain.Out, speculative.Out);
            Assert.Matches($@"\[speculative, drafts by .* at {precision} \(\+[0-9.]+ KiB of draft weights\)\]", speculative.Err);
            Assert.Matches(@"acceptance \d+\s?% \(\d+/\d+ drafts", speculative.Err);
        }
        var skip = Run([.. common, "--draft-precision", "int4"]);
        Assert.Equal(2, skip.Code);
        Assert.Contains("--draft-precision is for --mode speculative", skip.Err);
        var unknown = Run([.. common, "--mode", "speculative", "--draft-precision", "int3"]);
        Assert.Equal(2, unknown.Code);
    }

    [Fact]
    public void CalibrateDraftMeasuresEveryCandidateAndNamesTheBest()
    {
        var (code, stdout, stderr) = Run("calibrate-draft", "--model", SharedData.Stories260K, "--speedup", "1,2", "--draft-precision", "none,int4",
            "--prompts", "2", "--tokens", "24", "--rounds", "4");
        Assert.True(code == 0, stderr);
        var rows = stdout.Split('\n').Where(l => l.StartsWith("| stories260K |")).ToList();
        // (r = 1, model precision) is the model itself and is left out: three candidates.
        Assert.Equal(3, rows.Count);
        Assert.Contains(rows, r => r.StartsWith("| stories260K | int4 | 1 | 5 |"));
        Assert.Contains(rows, r => r.StartsWith("| stories260K | none | 2 | 2 |"));
        Assert.Contains(rows, r => r.StartsWith("| stories260K | int4 | 2 | 2 |"));
        Assert.Matches(@"(Best draft: .* expected \d+\.\d\dx plain .*Use: --mode speculative --speedup [0-9.]+ --draft-precision (none|int4))|(No draft is expected to beat plain decoding)", stdout);
    }

    [Fact]
    public void RoutersTrainTowardTheTargetRateAndRoutedGenerateSaysSo()
    {
        var routers = Path.Combine(Path.GetTempPath(), $"routers-{Guid.NewGuid():N}.safetensors");
        try
        {
            var train = Run("train-router", "--model", SharedData.Stories260K, "--data", SharedData.Path("data", "tinystories_dev.txt"), "--out", routers,
                "--target-rate", "0.5", "--penalty", "8", "--steps", "40", "--seq-len", "64", "--batch", "4", "--eval-windows", "4", "--threads", "1");
            Assert.True(train.Code == 0, train.Err);
            // The routers start every layer at a 95 % rate; training toward 0.5 must bring the measured rate down.
            var rate = double.Parse(System.Text.RegularExpressions.Regex.Match(train.Out + train.Err, @"budget 0\.5: measured execution rate (\d\.\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.InRange(rate, 0.0, 0.93);
            var generate = Run("generate", "--model", SharedData.Stories260K, "--router", routers, "--policy", "router", "--prompt", "Once upon a time",
                "--max-tokens", "20", "--temperature", "0");
            Assert.True(generate.Code == 0, generate.Err);
            Assert.Matches(@"\[router: \d+\s?% of layers run, \d+\s?% of layer compute\]", generate.Err);
            Assert.DoesNotContain("full depth", generate.Err);
        }
        finally
        {
            File.Delete(routers);
        }
    }

    [Fact]
    public void PerplexityEndsWithTheMachineReadableLine()
    {
        var file = SharedData.Path("data", "tinystories_dev.txt");
        var (code, stdout, _) = Run("perplexity", "--model", SharedData.Stories260K, "--file", file, "--max-tokens", "3000", "--speedup", "1.25");
        Assert.Equal(0, code);
        var line = LastLine(stdout);
        Assert.Matches(@"^nats_per_token=\d+\.\d+ tokens=\d+$", line);
    }

    [Fact]
    public void BadInputIsAClearErrorNotACrash()
    {
        var missing = Run("generate", "--model", "/no/such/model", "--prompt", "x");
        Assert.Equal(1, missing.Code);
        Assert.Contains("Model folder not found", missing.Err);
        var ratio = Run("plan", "--layers", "32", "--speedup", "0.5");
        Assert.NotEqual(0, ratio.Code);
        Assert.Contains("speedup", ratio.Err);
        var policy = Run("plan", "--layers", "32", "--speedup", "2", "--policy", "fastest");
        Assert.NotEqual(0, policy.Code);
        Assert.Contains("fastest", policy.Err);
        var typo = Run("plan", "--layers", "32", "--sppedup", "2");
        Assert.Equal(2, typo.Code);
        Assert.Contains("--sppedup", typo.Err);
        Assert.DoesNotContain("   at ", missing.Err + ratio.Err + policy.Err + typo.Err); // no stack traces
    }
}
