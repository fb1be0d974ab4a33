using LayerSkip.Benchmarks.LlamaCpp;
using LayerSkip.Benchmarks.Ours;

namespace LayerSkip.Benchmarks.Quality;

/// <summary>What <c>layerskip-bench quality</c> measures; parsed apart from the work so any front end can fill it.</summary>
public sealed record QualityBenchOptions
{
    /// <summary>The Hugging Face model folder both engines load (llama.cpp through our GGUF export of it).</summary>
    public required string ModelFolder { get; init; }
    /// <summary>The text both engines score, tokenized once by our tokenizer.</summary>
    public required string TextFile { get; init; }
    /// <summary>Window length in tokens, BOS included; every window is one teacher-forced pass.</summary>
    public int Window { get; init; } = 128;
    /// <summary>Score only the first N tokens of the text (null: all of it).</summary>
    public int? MaxTokens { get; init; }
    /// <summary>
    /// The first N lines of <see cref="TextFile"/> are the calibration text of <c>-cal</c> configurations and no
    /// configuration scores them (null: every line is scored, and none may be calibrated). So calibrated and
    /// uncalibrated rows score the same held-out text, never text a fit was calibrated on.
    /// </summary>
    public int? CalibrationLines { get; init; }
    /// <summary>llama.cpp types: F32/F16/BF16 written by our exporter, the others made from the F32 file by llama.cpp's quantizer.</summary>
    public IReadOnlyList<string> LlamaCpp { get; init; } = ["F32", "Q8_0", "Q4_0"];
    /// <summary>Our weight-only quantizations (none, int8, int4), all with float32 activations.</summary>
    public IReadOnlyList<string> Ours { get; init; } = ["none", "int8", "int4"];
    /// <summary>Unified layer-skip ratios for our configurations (llama.cpp runs full depth only).</summary>
    public IReadOnlyList<double> OurSpeedups { get; init; } = [1];
    /// <summary>Under a plan, the positions at the start of each window that run every layer (the prompt), as <c>perplexity</c> does.</summary>
    public int ContextTokens { get; init; } = 16;
    public int Threads { get; init; } = 2;
    /// <summary>Where the GGUF files are written for the run (a fresh subfolder, deleted afterwards).</summary>
    public string WorkFolder { get; init; } = Path.Combine(Path.GetTempPath(), "layerskip-quality");
    /// <summary>JSON lines, one per configuration as soon as it is measured.</summary>
    public string? JsonLines { get; init; }

    /// <summary>llama.cpp's block quantizers need whole 32-element blocks per row; the export pads the feed-forward width to this.</summary>
    public const int LlamaCppBlock = 32;

    public void Validate()
    {
        if (!Directory.Exists(ModelFolder)) throw new ArgumentException($"--model: folder '{ModelFolder}' not found.");
        if (!File.Exists(TextFile)) throw new ArgumentException($"--file: '{TextFile}' not found.");
        if (Window < 2) throw new ArgumentException("--window must be at least 2 (BOS and one token).");
        if (MaxTokens is < 1) throw new ArgumentException("--max-tokens must be at least 1.");
        if (Threads < 1) throw new ArgumentException("--threads must be at least 1.");
        if (ContextTokens < 1) throw new ArgumentException("--context-tokens must be at least 1.");
        if (LlamaCpp.Count == 0 && Ours.Count == 0) throw new ArgumentException("Nothing to measure: --llamacpp and --ours are both empty.");
        if (OurSpeedups.Count == 0 || OurSpeedups.Any(r => r < 1)) throw new ArgumentException("--speedups must list ratios r ≥ 1.");
        foreach (var t in LlamaCpp)
            if (!QualityBench.IsFloatType(t)) LlamaCppQuantizer.Parse(t);
        if (CalibrationLines is < 1) throw new ArgumentException("--calibration-lines must be at least 1.");
        foreach (var q in Ours)
            if (OurWeights.Float32(q).Calibrated && CalibrationLines is null)
                throw new ArgumentException($"--ours: '{q}' is calibrated: give --calibration-lines N (the first N lines of --file calibrate, the rest are scored).");
    }
}
