using System.CommandLine;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Engine.Training;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Options;

/// <summary>The options of the training commands (train, adapt, train-router): data, optimiser, schedule, checkpoints.</summary>
internal sealed class TrainingOptionSet
{
    public Option<string> Data { get; }
    public Option<int> Steps { get; }
    public Option<int?> StopAt { get; } = Opt.Maybe<int>("--stop-at", "Stop (and save) at this step while keeping the schedule of --steps; continue later with --resume.");
    public Option<int> Batch { get; } = Opt.Value("--batch", "Windows per micro-batch.", 8);
    public Option<int> Accumulate { get; } = Opt.Value("--accum", "Micro-batches per optimizer step (gradient accumulation).", 1);
    public Option<double> LearningRate { get; }
    public Option<double> MinLearningRateRatio { get; } = Opt.Value("--min-lr-ratio", "Final learning rate as a fraction of --lr.", 0.1);
    public Option<int?> Warmup { get; } = Opt.Maybe<int>("--warmup", "Warm-up steps (default: 10% of --steps, at most 100).");
    public Option<string> Schedule { get; } = Opt.OneOf("--schedule", "Learning-rate shape after warm-up.", "cosine", "cosine", "linear", "constant");
    public Option<double> WeightDecay { get; } = Opt.Value("--weight-decay", "AdamW weight decay (matrices only).", 0.1);
    public Option<double> Clip { get; } = Opt.Value("--clip", "Gradient global-norm clip (0 = off).", 1.0);
    public Option<int> Seed { get; } = SharedOptions.Seed(description: "Seed of the initial weights and of the data order.");
    public Option<int> LogEvery { get; } = Opt.Value("--log-every", "Print the loss every N steps.", 10);
    public Option<int> SaveEvery { get; } = Opt.Value("--save-every", "Save a resumable checkpoint every N steps (0 = only at the end).", 0);
    public Option<int?> Threads { get; } = SharedOptions.Threads();

    public TrainingOptionSet(Command command, int defaultSteps, double defaultLr, string dataDescription = "Training text file.")
    {
        Data = Opt.ExistingFile("--data", dataDescription);
        Steps = Opt.Value("--steps", "Optimizer steps.", defaultSteps);
        LearningRate = Opt.Value("--lr", "Peak learning rate (AdamW).", defaultLr);
        command.AddAll(Data, Steps, StopAt, Batch, Accumulate, LearningRate, MinLearningRateRatio, Warmup, Schedule, WeightDecay, Clip, Seed,
            LogEvery, SaveEvery, Threads);
    }

    /// <summary>The data file, after applying --threads (training runs on this thread, not an engine's).</summary>
    public string DataFile(ParseResult parse)
    {
        if (parse.GetValue(Threads) is int threads and > 0) set_num_threads(threads);
        return parse.GetValue(Data)!;
    }

    public TrainingOptions Read(ParseResult parse) => new()
    {
        Steps = parse.GetValue(Steps),
        StopAtStep = parse.GetValue(StopAt),
        BatchSize = parse.GetValue(Batch),
        GradientAccumulation = parse.GetValue(Accumulate),
        LearningRate = parse.GetValue(LearningRate),
        MinLearningRateRatio = parse.GetValue(MinLearningRateRatio),
        WarmupSteps = parse.GetValue(Warmup),
        Schedule = Enum.Parse<LearningRateShape>(parse.GetValue(Schedule)!, ignoreCase: true),
        WeightDecay = parse.GetValue(WeightDecay),
        ClipNorm = parse.GetValue(Clip),
        Seed = parse.GetValue(Seed),
        LogEvery = parse.GetValue(LogEvery),
        SaveEvery = parse.GetValue(SaveEvery),
    };

    /// <summary>--dtype of the training commands: the dtype the weights are trained in.</summary>
    public static Option<string> TrainingDType() => Opt.OneOf("--dtype", "Training dtype.", "float32", "float32", "f32", "bfloat16", "bf16");

    public static ScalarType ParseDType(string name) => name is "bfloat16" or "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;

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
