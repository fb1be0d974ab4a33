using LayerSkip.Engine.Tokenization;
using LayerSkip.Engine.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip train: pretrain a small LLaMA from scratch on a text file (the test bed for the paper's experiment).</summary>
internal static class TrainCommand
{
    public static int Run(CliArgs args)
    {
        var data = TrainingArgs.DataFile(args);
        var outFolder = args.Required("out");
        var tokenizerFrom = args.String("tokenizer-from") ?? TrainingArgs.DefaultTokenizerFolder();
        var layers = args.Int("layers") ?? 8;
        var hidden = args.Int("hidden") ?? 128;
        var heads = args.Int("heads");
        var kvHeads = args.Int("kv-heads");
        var seqLen = args.Int("seq-len") ?? 128;
        var maxPositions = args.Int("max-positions") ?? Math.Max(256, seqLen);
        var resume = args.Flag("resume");
        var options = TrainingArgs.Options(args, defaultSteps: 1000, defaultLr: 3e-3);
        var dtype = TrainingArgs.DType(args);
        args.EnsureAllUsed();

        var tokenizer = TextTokenizer.Load(tokenizerFrom);
        var stream = TrainingArgs.Tokenize(tokenizer, data);
        Console.Error.WriteLine($"{stream.TokenCount} tokens of {Path.GetFileName(data)}, tokenizer from {tokenizerFrom} (vocab {tokenizer.VocabSize})");

        using var model = resume
            ? TrainableModel.Load(outFolder, dtype)
            : TrainableModel.Create(Pretraining.SmallLlama(layers, hidden, tokenizer.VocabSize, heads, kvHeads, maxPositions,
                tokenizer.BosTokenId, tokenizer.EosTokenId), options.Seed, dtype);
        var c = model.Config;
        Console.Error.WriteLine($"model: {c.NumLayers} layers, hidden {c.HiddenSize}, {c.NumHeads}/{c.NumKeyValueHeads} heads, ffn {c.IntermediateSize}, " +
                                $"{model.AllParameters.Sum(p => p.NumberOfElements):N0} parameters");
        var result = Pretraining.Run(model, stream, seqLen + 1, options, outFolder, tokenizerFrom, resume, Console.Error);
        Console.WriteLine($"saved {outFolder} at step {result.Step} ({result.TokensSeen:N0} tokens), last loss {result.LossHistory.LastOrDefault():0.0000}");
        return 0;
    }
}

/// <summary>Options the training commands share.</summary>
internal static class TrainingArgs
{
    public static string DataFile(CliArgs args)
    {
        var data = args.Required("data");
        if (!File.Exists(data)) throw new CliException($"File not found: {data}");
        if (args.Int("threads") is int threads and > 0) set_num_threads(threads);
        return data;
    }

    public static TrainingOptions Options(CliArgs args, int defaultSteps, double defaultLr)
    {
        var schedule = args.String("schedule") ?? "cosine";
        return new TrainingOptions
        {
            Steps = args.Int("steps") ?? defaultSteps,
            StopAtStep = args.Int("stop-at"),
            BatchSize = args.Int("batch") ?? 8,
            GradientAccumulation = args.Int("accum") ?? 1,
            LearningRate = args.Double("lr") ?? defaultLr,
            MinLearningRateRatio = args.Double("min-lr-ratio") ?? 0.1,
            WarmupSteps = args.Int("warmup"),
            Schedule = Enum.TryParse<LearningRateShape>(schedule, true, out var s) ? s : throw new CliException($"--schedule must be cosine, linear or constant, got '{schedule}'."),
            WeightDecay = args.Double("weight-decay") ?? 0.1,
            ClipNorm = args.Double("clip") ?? 1.0,
            Seed = args.Int("seed") ?? 0,
            LogEvery = args.Int("log-every") ?? 10,
            SaveEvery = args.Int("save-every") ?? 0,
        };
    }

    public static ScalarType DType(CliArgs args) => (args.String("dtype") ?? "float32").ToLowerInvariant() switch
    {
        "float32" or "f32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        var d => throw new CliException($"--dtype must be float32 or bfloat16, got '{d}'."),
    };

    public static TokenWindows Tokenize(TextTokenizer tokenizer, string file) =>
        new(tokenizer.Encode(File.ReadAllText(file), addBos: false), tokenizer.BosTokenId);

    /// <summary>models/stories260K of the shared data folder ($LAYERSKIP_SHARED, or a "shared" folder above the working directory).</summary>
    public static string DefaultTokenizerFolder()
    {
        var env = Environment.GetEnvironmentVariable("LAYERSKIP_SHARED");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(Path.Combine(env, "models", "stories260K"))) return Path.Combine(env, "models", "stories260K");
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "models", "stories260K");
                if (Directory.Exists(candidate)) return candidate;
            }
        throw new CliException("Could not find shared/models/stories260K for the default tokenizer; pass --tokenizer-from DIR.");
    }
}
