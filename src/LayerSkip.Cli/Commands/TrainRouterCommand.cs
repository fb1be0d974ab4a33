using System.CommandLine;
using System.Globalization;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Engine.Training;
using LayerSkip.Engine.Training.Routing;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip train-router: token-level routers (one linear router per layer) on a frozen model, trained towards an
/// execution-rate budget; saved as safetensors and measured on held-out text.
/// </summary>
internal sealed class TrainRouterCommand : CliCommand
{
    private readonly Option<string> _model = SharedOptions.Model("Model folder (kept frozen).");
    private readonly Option<string> _out = Opt.Required("--out", "Safetensors file to save the routers to (router.safetensors in a model folder is picked up by default).", "file");
    private readonly Option<double> _budget = TargetRate(Opt.Value("--budget", "Target execution rate of every layer, in (0, 1] (also --target-rate).", 0.5));

    private static Option<double> TargetRate(Option<double> budget)
    {
        budget.Aliases.Add("--target-rate");
        return budget;
    }
    private readonly Option<double> _penalty = Opt.Value("--penalty", "Weight of the budget penalty next to the language-model loss.", 4.0);
    private readonly Option<double> _temperature = Opt.Value("--temperature", "Gumbel-softmax temperature.", 1.0);
    private readonly Option<int> _seqLen = Opt.Value("--seq-len", "Tokens predicted per training window.", 128);
    private readonly Option<string?> _evalFile = Opt.Text("--eval-file", "Held-out text to measure the routers on (default: windows of the training data).", "file");
    private readonly Option<int> _evalWindows = Opt.Value("--eval-windows", "Windows measured after training.", 32);
    private readonly TrainingOptionSet _training;

    public TrainRouterCommand() : base("train-router",
        "Train token routers (one linear router per layer) on a frozen model towards an execution-rate budget, then measure them on held-out text.")
    {
        this.AddAll(_model, _out, _budget, _penalty, _temperature);
        _training = new TrainingOptionSet(this, defaultSteps: 200, defaultLr: 1e-2);
        this.AddAll(_seqLen, _evalFile, _evalWindows);
    }

    protected override Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var data = _training.DataFile(parse);
        var modelFolder = ModelFolder.Resolve(parse.GetValue(_model)!);
        var outFile = parse.GetValue(_out)!;
        var evalFile = parse.GetValue(_evalFile);
        var seqLen = parse.GetValue(_seqLen);
        var router = new RouterTrainingOptions
        {
            Budget = parse.GetValue(_budget),
            PenaltyWeight = parse.GetValue(_penalty),
            Temperature = parse.GetValue(_temperature),
            WindowTokens = seqLen + 1,
        };
        var options = _training.Read(parse);
        var evalWindows = parse.GetValue(_evalWindows);
        if (router.Budget is <= 0 or > 1) throw new CliException("--budget must be in (0, 1].");
        if (evalFile is not null && !File.Exists(evalFile)) throw new CliException($"--eval-file: file not found: {evalFile}");

        var tokenizer = TextTokenizer.Load(modelFolder);
        using var model = TrainableModel.Load(modelFolder);
        var stream = TrainingOptionSet.Tokenize(tokenizer, data);
        LayerRouterSet routers;
        using (var task = progress.Start("train-router", options.Steps, "steps"))
            routers = RouterTraining.Train(model, stream, router, options, log: progress.Log, progress: task);
        using var _ = routers;
        routers.Save(outFile);
        Console.WriteLine($"saved {outFile}");

        var windows = evalFile is null
            ? stream.Sample(evalWindows, seqLen + 1, options.Seed + 1, -1, 0)
            : TeacherForcedScorer.Windows(tokenizer.Encode(File.ReadAllText(evalFile), addBos: false), seqLen + 1, tokenizer.BosTokenId)
                .Where(w => w.Length == seqLen + 1).Take(evalWindows).ToList().ToArray();
        double full;
        using (no_grad())
            full = windows.Average(w => { using var s = NewDisposeScope(); return LanguageModelLoss.NextToken(model.Model, [w]).Loss.item<float>(); });
        var (nats, rate, perLayer) = RouterTraining.Measure(model.Model, routers, windows);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"budget {router.Budget:0.##}: measured execution rate {rate:0.000} (per layer {string.Join(", ", perLayer.Select(r => r.ToString("0.00", CultureInfo.InvariantCulture)))}); " +
            $"nats/token full {full:0.000} routed {nats:0.000} on {windows.Length} windows{(evalFile is null ? " of the training data" : " of " + Path.GetFileName(evalFile))}"));
        return Task.FromResult(0);
    }
}
