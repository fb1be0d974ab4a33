using System.Globalization;
using System.Text.Json;
using LayerSkip.Benchmarks.LlamaCpp;
using LayerSkip.Benchmarks.Ours;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Export.Gguf;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Tokenization;

namespace LayerSkip.Benchmarks.Quality;

/// <summary>
/// One configuration's held-out loss: nats per token over the same windows as every other configuration, and the
/// difference from the same engine's unquantized result at the same r (null when that was not measured).
/// </summary>
public sealed record QualityRow(
    string engine, string weights, double r, int kept_layers, double nats_per_token, double? delta,
    int tokens, int windows, int window, string model, string text, long? file_bytes = null, string? stored_as = null);

/// <summary>
/// Quantization loss of our engine and of llama.cpp on the same weights and the same token windows. The text is
/// tokenized once by our tokenizer and cut into windows of BOS plus a contiguous slice (as <c>perplexity</c> does);
/// each engine scores each window in one teacher-forced pass and sums −log p(next token). Our side is the engine's
/// own scorer with float32 activations over float32, int8 or int4 weights; llama.cpp's side is our GGUF export of the
/// folder (F32) and the files llama.cpp's quantizer makes from it. Each engine's Δ is against its own unquantized
/// weights, so the two engines' quantizers are compared, not their forward passes. llama.cpp runs on
/// <see cref="QualityBenchOptions.Threads"/> threads; libtorch's thread count is the process's (the command sets it).
/// </summary>
public sealed class QualityBench(QualityBenchOptions options, TextWriter log)
{
    public static bool IsFloatType(string type) => type.ToUpperInvariant() is "F32" or "F16" or "BF16";

    public IReadOnlyList<QualityRow> Run()
    {
        options.Validate();
        var windows = Windows();
        var layers = ModelConfig.Load(options.ModelFolder).NumLayers;
        var model = Path.GetFileName(Path.GetFullPath(options.ModelFolder).TrimEnd('/'));
        var text = Path.GetFileName(options.TextFile) + (options.CalibrationLines is int n ? $" after line {n}" : "");
        var tokens = windows.Sum(w => w.Length - 1);
        log.WriteLine($"{model}: {tokens} scored tokens in {windows.Count} windows of up to {options.Window} from {text}");
        var calibration = options.Ours.Any(q => OurWeights.Float32(q).Calibrated) ? CalibrationWindows() : null;
        if (calibration is not null)
            log.WriteLine($"-cal configurations: fit calibrated on {calibration.Sum(w => w.Length - 1)} tokens of the first {options.CalibrationLines} lines");
        var rows = new List<QualityRow>();
        using var jsonl = options.JsonLines is null ? null : new StreamWriter(options.JsonLines, append: false) { AutoFlush = true };
        void Record(QualityRow row, Func<QualityRow, bool> isBaseline)
        {
            var baseline = rows.FirstOrDefault(b => b.engine == row.engine && b.r == row.r && isBaseline(b)) ?? (isBaseline(row) ? row : null);
            row = row with { delta = baseline is null ? null : Math.Round(row.nats_per_token - baseline.nats_per_token, 6) };
            rows.Add(row);
            jsonl?.WriteLine(JsonSerializer.Serialize(row));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{row.engine} {row.weights} r={row.r:0.##}: {row.nats_per_token:0.0000} nats/token{(row.delta is { } d ? $" (Δ {d:+0.0000;-0.0000;0.0000})" : "")}"));
        }

        foreach (var quantization in Unquantized(options.Ours, q => q.Equals("none", StringComparison.OrdinalIgnoreCase) || q.Equals("float32", StringComparison.OrdinalIgnoreCase)))
        {
            var weights = OurWeights.Float32(quantization);
            using var ours = LayerSkipModel.Load(options.ModelFolder, weights, options.Window, weights.Calibrated ? calibration : null);
            foreach (var r in options.OurSpeedups)
            {
                var plan = ours.Plan(r);
                var nats = ours.NatsPerToken(windows, plan, options.ContextTokens, out var scored);
                Record(new QualityRow("ours", weights.Name, r, plan.KeptCount, Math.Round(nats, 6), null, scored, windows.Count, options.Window, model, text),
                    b => b.weights == "float32");
            }
        }

        var work = Directory.CreateDirectory(Path.Combine(options.WorkFolder, $"{model}-{Environment.ProcessId}")).FullName;
        try
        {
            foreach (var type in Unquantized(options.LlamaCpp, t => t.Equals("F32", StringComparison.OrdinalIgnoreCase)))
            {
                var path = Gguf(work, type);
                using var reference = LlamaCppModel.Load(path, options.Threads, options.Window);
                double total = 0;
                var scored = 0;
                foreach (var w in windows)
                {
                    var nll = reference.NegativeLogLikelihoods(w);
                    total += nll.Sum();
                    scored += nll.Length;
                }
                Record(new QualityRow("llama.cpp", type.ToUpperInvariant().Replace("-PURE", "-pure"), 1, layers, Math.Round(total / scored, 6), null, scored, windows.Count,
                    options.Window, model, text, new FileInfo(path).Length, GgufTensorTypes.Summary(path)), b => b.weights == "F32");
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
        return rows;
    }

    /// <summary>
    /// The scored text (past the calibration lines, if any) tokenized once by our tokenizer and cut into BOS-led
    /// windows, the same for both engines.
    /// </summary>
    public List<int[]> Windows()
    {
        var tokenizer = TextTokenizer.Load(options.ModelFolder);
        var ids = tokenizer.Encode(ScoredText(), addBos: false);
        if (options.MaxTokens is int max && ids.Count > max) ids = ids.Take(max).ToList();
        var windows = TeacherForcedScorer.Windows(ids, options.Window, tokenizer.BosTokenId).ToList();
        if (windows.Count == 0) throw new ArgumentException($"--file: '{options.TextFile}' has too little text to score.");
        return windows;
    }

    /// <summary>The calibration lines as the engine's calibration windows (capped like any calibration text).</summary>
    public IReadOnlyList<int[]> CalibrationWindows()
    {
        var lines = File.ReadAllLines(options.TextFile);
        var n = options.CalibrationLines ?? throw new InvalidOperationException("No --calibration-lines.");
        if (n >= lines.Length) throw new ArgumentException($"--calibration-lines {n}: '{options.TextFile}' has only {lines.Length} lines, none left to score.");
        return LayerSkip.Engine.Calibration.QuantizationCalibration.Windows(TextTokenizer.Load(options.ModelFolder),
            string.Join('\n', lines.Take(n)), options.Window, "--calibration-lines");
    }

    /// <summary>The whole file, or the lines after the calibration lines.</summary>
    private string ScoredText()
    {
        if (options.CalibrationLines is not int n) return File.ReadAllText(options.TextFile);
        var lines = File.ReadAllLines(options.TextFile);
        if (n >= lines.Length) throw new ArgumentException($"--calibration-lines {n}: '{options.TextFile}' has only {lines.Length} lines, none left to score.");
        return string.Join('\n', lines.Skip(n));
    }

    /// <summary>The unquantized configuration first, so every other one's Δ is known when it is recorded.</summary>
    private static IEnumerable<string> Unquantized(IEnumerable<string> names, Func<string, bool> isBaseline) =>
        names.OrderBy(n => isBaseline(n) ? 0 : 1);

    /// <summary>
    /// F32/F16/BF16 from our exporter; quantized types by llama.cpp's quantizer from the F32 file. The feed-forward
    /// width is padded with zero units to whole quantizer blocks in every file, so all of them hold the same function.
    /// </summary>
    private string Gguf(string work, string type)
    {
        var upper = type.ToUpperInvariant();
        var path = Path.Combine(work, $"{upper}.gguf");
        if (File.Exists(path)) return path;
        if (IsFloatType(upper))
        {
            GgufModelExporter.Export(options.ModelFolder, path, GgufModelExporter.ParseFloatType(upper), QualityBenchOptions.LlamaCppBlock);
            return path;
        }
        var source = Gguf(work, "F32");
        log.WriteLine($"Quantizing to {upper} with llama.cpp...");
        LlamaCppQuantizer.Quantize(source, path, upper, options.Threads);
        return path;
    }

    /// <summary>The side-by-side table: one row per configuration, Δ against the same engine's unquantized weights.</summary>
    public static string Markdown(IReadOnlyList<QualityRow> rows)
    {
        var lines = new List<string>
        {
            "| engine | weights | r | nats/token | Δ vs the engine's unquantized | llama.cpp matrices by type |",
            "|---|---|---:|---:|---:|---|",
        };
        foreach (var r in rows)
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {r.engine} | {r.weights} | {r.r:0.##} | {r.nats_per_token:0.0000} | {(r.delta is { } d ? d.ToString("+0.0000;-0.0000;0.0000", CultureInfo.InvariantCulture) : "—")} | {r.stored_as ?? ""} |"));
        if (rows.Count > 0)
            lines.Add($"\n{rows[0].model} on {rows[0].text}: {rows[0].tokens} scored tokens, {rows[0].windows} windows of up to {rows[0].window} tokens (BOS included).");
        return string.Join('\n', lines);
    }
}
