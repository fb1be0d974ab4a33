using System.CommandLine;
using LayerSkip.Engine.Model;

namespace LayerSkip.Cli.Options;

/// <summary>Options several commands take with the same meaning; each command gets its own instance.</summary>
internal static class SharedOptions
{
    public const string PolicyList =
        "unified (default: every r-th layer, first and last kept), unifiedeven, earlyexit, skipbottom, random, explicit (--layers), " +
        "calibrated (the layers that change the hidden state least on calibration text), router (trained token routers: --router FILE), none";

    public static Option<string> Model(string description = "Hugging Face model folder (config.json, *.safetensors, tokenizer files).") =>
        Opt.Required("--model", description, "dir");

    public static Option<string> Quantize() => Opt.Value("--quantize", "Weight-only quantization at load: none, int8 (per output channel) or int4 (per group).", "none", "format");
    public static Option<int?> GroupSize() => Opt.Maybe<int>("--group-size", "Columns per int4 group: a power of two from 32 (32, 64, 128, ...; default 128).");
    public static Option<string?> QuantizeHead() => Opt.Text("--quantize-head",
        "The LM head's format when it should differ from --quantize: int8 or int4 (default: as --quantize). int8 under int4 is the mix of llama.cpp's Q4_0 files.", "format");
    public static Option<string?> QuantizeCalibration() => Opt.Text("--quantize-calibration",
        "Text like what the model will see (its first 4096 tokens are used): at load the float model runs it and each int4 projection " +
        "is fitted to its inputs on that text (GPTQ-style: rounding errors pushed onto the columns not yet rounded). Needs --quantize.", "file");

    /// <summary>
    /// The text of <paramref name="path"/> (null when the option is absent), rejected by option name when the file is
    /// missing or empty or when there is no quantization to calibrate.
    /// </summary>
    public static string? ReadQuantizeCalibration(string? path, WeightQuantization quantization)
    {
        if (path is null) return null;
        if (quantization.Format == WeightFormat.None)
            throw new CliException("--quantize-calibration calibrates quantization: add --quantize int4 (or int8).");
        if (!File.Exists(path)) throw new CliException($"--quantize-calibration: file not found: {path}");
        var text = File.ReadAllText(path);
        if (string.IsNullOrWhiteSpace(text)) throw new CliException($"--quantize-calibration: '{path}' is empty.");
        return text;
    }

    public static Option<int?> Threads() => Opt.Maybe<int>("--threads", "CPU threads for libtorch (default: the engine's choice for this machine).");

    public static Option<int> Seed(int defaultValue = 0, string description = "Random seed.") => Opt.Value("--seed", description, defaultValue);

    public static Option<string?> Json() => Opt.Text("--json",
        "Append each result row to this file as one JSON object per line, as soon as it is measured (an interrupted run keeps its rows).", "file");

    public static Option<string?> Router() => Opt.Text("--router",
        "Trained token routers (safetensors from train-router); default: router.safetensors in the model folder, if present.", "file");
}
