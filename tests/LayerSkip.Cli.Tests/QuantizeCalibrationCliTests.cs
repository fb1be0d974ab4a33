using System.Globalization;
using LayerSkip.Tests;
using static LayerSkip.Cli.Tests.CliTests;

namespace LayerSkip.Cli.Tests;

/// <summary>--quantize-calibration: the int4 fit calibrated on a text file at load, and its errors named by the option.</summary>
public sealed class QuantizeCalibrationCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("quantize-calibration-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly string Text = SharedData.Path("data", "tinystories_dev.txt");

    private static string[] Perplexity(params string[] extra) =>
        ["perplexity", "--model", SharedData.Stories260K, "--file", Text, "--max-tokens", "2000", "--window", "128", .. extra];

    private static double Nats(string stdout) =>
        double.Parse(stdout.TrimEnd().Split('\n')[^1].Split(' ')[0]["nats_per_token=".Length..], CultureInfo.InvariantCulture);

    [Fact]
    public void PerplexityLoadsTheCalibratedFit()
    {
        var calibration = Path.Combine(_folder, "calibration.txt");
        File.WriteAllLines(calibration, File.ReadLines(Text).Skip(3000).Take(100));
        var plain = Run(Perplexity("--quantize", "int4"));
        var calibrated = Run(Perplexity("--quantize", "int4", "--quantize-calibration", calibration));
        Assert.True(plain.Code == 0, plain.Err);
        Assert.True(calibrated.Code == 0, calibrated.Err);
        Assert.NotEqual(Nats(plain.Out), Nats(calibrated.Out)); // the option reached the fit
    }

    [Fact]
    public void BadCalibrationIsRejectedByTheOptionsName()
    {
        var empty = Path.Combine(_folder, "empty.txt");
        File.WriteAllText(empty, " \n");
        var missing = Run(Perplexity("--quantize", "int4", "--quantize-calibration", Path.Combine(_folder, "none.txt")));
        Assert.Equal(2, missing.Code);
        Assert.Contains("--quantize-calibration: file not found", missing.Err);
        var unquantized = Run(Perplexity("--quantize-calibration", Text));
        Assert.Equal(2, unquantized.Code);
        Assert.Contains("--quantize-calibration", unquantized.Err);
        Assert.Contains("--quantize int4", unquantized.Err);
        var blank = Run(Perplexity("--quantize", "int4", "--quantize-calibration", empty));
        Assert.Equal(2, blank.Code);
        Assert.Contains("--quantize-calibration", blank.Err);
        Assert.Contains("empty", blank.Err);
        var shape = Run("calibrate-draft", "--shape", "stories260K", "--quantize", "int4", "--quantize-calibration", Text);
        Assert.Equal(2, shape.Code);
        Assert.Contains("--quantize-calibration needs --model", shape.Err);
    }
}
