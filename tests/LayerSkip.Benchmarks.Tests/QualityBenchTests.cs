using System.Text.Json;
using LayerSkip.Benchmarks.LlamaCpp;
using LayerSkip.Benchmarks.Ours;
using LayerSkip.Benchmarks.Quality;
using LayerSkip.Engine.Model;
using LayerSkip.Tests;

namespace LayerSkip.Benchmarks.Tests;

/// <summary>
/// The quality comparison on stories260K: llama.cpp's F32 run of our GGUF export is an independent reference forward
/// pass, so it must score the same windows as our float32 engine; its own Q4_0 must then cost something.
/// </summary>
[Collection(LlamaCppCollection.Name)]
public sealed class QualityBenchTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("quality-bench-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private QualityBenchOptions Options(params string[] llamaCpp) => new()
    {
        ModelFolder = SharedData.Stories260K,
        TextFile = SharedData.Path("data", "tinystories_dev.txt"),
        Window = 128,
        MaxTokens = 4 * 127, // four full windows
        LlamaCpp = llamaCpp,
        Ours = ["none"],
        Threads = 1,
        WorkFolder = _folder,
        JsonLines = Path.Combine(_folder, "quality.jsonl"),
    };

    [Fact]
    public void Llama_cpp_F32_scores_the_windows_like_our_float32_and_its_Q4_0_costs_nats()
    {
        var options = Options("F32", "Q4_0", "Q4_0-pure");
        var rows = new QualityBench(options, TextWriter.Null).Run();

        var ours = Assert.Single(rows, r => r.engine == "ours");
        var f32 = Assert.Single(rows, r => r.engine == "llama.cpp" && r.weights == "F32");
        var q4 = Assert.Single(rows, r => r.engine == "llama.cpp" && r.weights == "Q4_0");
        Assert.All(rows, r => Assert.Equal((4, 4 * 127), (r.windows, r.tokens)));
        Assert.InRange(ours.nats_per_token, 1.0, 3.0); // a trained model, far below ln(512) = 6.24
        Assert.Equal(ours.nats_per_token, f32.nats_per_token, 0.001);
        Assert.Equal(0.0, ours.delta);
        Assert.Equal(0.0, f32.delta);
        Assert.True(q4.delta > 0, $"Q4_0 should lose nats against F32, got Δ {q4.delta}");
        Assert.Equal(q4.nats_per_token - f32.nats_per_token, q4.delta!.Value, 5);
        Assert.True(q4.file_bytes < f32.file_bytes / 4, "the Q4_0 file holds 4-bit blocks");
        // Every layer matrix is Q4_0 (the feed-forward width padded to whole blocks); llama.cpp keeps the tied
        // embedding/output matrix at more bits (Q6_K, which needs 256-wide rows, falls back to Q8_0 at width 64).
        Assert.Equal("Q4_0: attn_k, attn_output, attn_q, attn_v, ffn_down, ffn_gate, ffn_up; Q8_0: token_embd", q4.stored_as);
        var pure = Assert.Single(rows, r => r.weights == "Q4_0-pure");
        Assert.Equal("Q4_0: attn_k, attn_output, attn_q, attn_v, ffn_down, ffn_gate, ffn_up, token_embd", pure.stored_as);
        Assert.True(pure.delta > 0, $"Q4_0-pure should lose nats against F32, got Δ {pure.delta}");
        Assert.Equal("F32: attn_k, attn_output, attn_q, attn_v, ffn_down, ffn_gate, ffn_up, token_embd", f32.stored_as);
        Assert.Equal(rows, File.ReadAllLines(options.JsonLines!).Select(l => JsonSerializer.Deserialize<QualityRow>(l)!));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_folder, "*.gguf", SearchOption.AllDirectories));

        var table = QualityBench.Markdown(rows);
        Assert.Contains("| llama.cpp | Q4_0 | 1 |", table);
        Assert.Contains("| ours | float32 | 1 |", table);
    }

    [Fact]
    public void Each_window_gets_the_same_loss_from_both_engines()
    {
        var windows = new QualityBench(Options(), TextWriter.Null).Windows();
        Assert.Equal(4, windows.Count);
        Assert.All(windows, w => Assert.Equal(1, w[0])); // BOS opens every window

        var gguf = Path.Combine(_folder, "stories260K-F32.gguf");
        LayerSkip.Engine.Export.Gguf.GgufModelExporter.Export(SharedData.Stories260K, gguf, LayerSkip.Engine.Export.Gguf.GgmlType.F32, feedForwardMultiple: 32);
        using var reference = LlamaCppModel.Load(gguf, threads: 1, contextSize: 128);
        using var ours = LayerSkipModel.Load(SharedData.Stories260K, OurWeights.Float32("none"), 128);
        var full = ours.Plan(1);
        foreach (var w in windows)
        {
            var expected = reference.NegativeLogLikelihoods(w).Average();
            Assert.Equal(expected, ours.NatsPerToken([w], full, 16, out var n), 0.001);
            Assert.Equal(w.Length - 1, n);
        }
    }

    [Fact]
    public void Bad_options_are_rejected_by_name()
    {
        Assert.Contains("'Q3'", Assert.Throws<ArgumentException>(() => (Options("Q3") with { }).Validate()).Message);
        Assert.Contains("--file", Assert.Throws<ArgumentException>(() => (Options() with { TextFile = "/nonexistent.txt" }).Validate()).Message);
        Assert.Contains("--ours", Assert.Throws<ArgumentException>(() => (Options() with { Ours = ["int3"] }).Validate()).Message);
        Assert.Contains("int8-g64", Assert.Throws<ArgumentException>(() => OurWeights.Float32("int8-g64")).Message);
        Assert.Equal(("int4-g64", 64), (OurWeights.Float32("int4-g64").Name, OurWeights.Float32("int4-g64").ToQuantization().GroupSize));
        var mixed = OurWeights.Float32("int4-g32-h8").ToQuantization();
        Assert.Equal((WeightFormat.Int4, 32, WeightFormat.Int8), (mixed.Format, mixed.GroupSize, mixed.Head));
        Assert.Contains("int8-h8", Assert.Throws<ArgumentException>(() => OurWeights.Float32("int8-h8")).Message);
        Assert.Contains("-x", Assert.Throws<ArgumentException>(() => OurWeights.Float32("int4-x")).Message);
        var calibrated = OurWeights.Float32("int4-g32-h8-cal");
        Assert.Equal(("int4-g32-h8-cal", true, 32), (calibrated.Name, calibrated.Calibrated, calibrated.ToQuantization().GroupSize));
        Assert.False(OurWeights.Float32("int4-g32-h8").Calibrated);
        Assert.Contains("int8-cal", Assert.Throws<ArgumentException>(() => OurWeights.Float32("int8-cal")).Message);
        // A calibrated configuration needs calibration lines, which then no configuration scores.
        Assert.Contains("--calibration-lines", Assert.Throws<ArgumentException>(() => (Options() with { Ours = ["int4-cal"] }).Validate()).Message);
        Assert.Contains("--calibration-lines", Assert.Throws<ArgumentException>(() => (Options() with { CalibrationLines = 0 }).Validate()).Message);
        Assert.Contains("--calibration-lines", Assert.Throws<ArgumentException>(() => new QualityBench(Options() with { CalibrationLines = 1_000_000 }, TextWriter.Null).Windows()).Message);
        Assert.Throws<ArgumentException>(() => LayerSkipModel.Load(SharedData.Stories260K, calibrated, 128));
    }

    [Fact]
    public void Calibrated_and_uncalibrated_rows_score_the_same_text_after_the_calibration_lines()
    {
        var options = Options() with { CalibrationLines = 40, Ours = ["none", "int4", "int4-cal"] };
        var bench = new QualityBench(options, TextWriter.Null);
        var lines = File.ReadAllLines(options.TextFile);
        var tokenizer = LayerSkip.Engine.Tokenization.TextTokenizer.Load(SharedData.Stories260K);
        // Calibration reads the first 40 lines; scoring starts right after them, so the two never share text.
        Assert.Equal(tokenizer.Encode(string.Join('\n', lines.Take(40)), addBos: false).Take(127), bench.CalibrationWindows()[0].Skip(1));
        Assert.Equal(tokenizer.Encode(string.Join('\n', lines.Skip(40)), addBos: false).Take(127), bench.Windows()[0].Skip(1));

        var rows = bench.Run();
        Assert.Equal(["float32", "int4", "int4-cal"], rows.Select(r => r.weights));
        Assert.All(rows, r => Assert.Equal((4, 4 * 127, "tinystories_dev.txt after line 40"), (r.windows, r.tokens, r.text)));
        var (plain, calibrated) = (rows[1], rows[2]);
        Assert.True(plain.delta > 0 && calibrated.delta > 0, $"int4 should cost nats: Δ {plain.delta} and {calibrated.delta} calibrated");
        Assert.NotEqual(plain.nats_per_token, calibrated.nats_per_token); // the calibrated fit is another fit
    }
}
