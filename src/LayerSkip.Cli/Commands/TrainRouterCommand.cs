using System.Globalization;
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
internal static class TrainRouterCommand
{
    public static int Run(CliArgs args)
    {
        var data = TrainingArgs.DataFile(args);
        var modelFolder = ModelFolder.Resolve(args.Required("model"));
        var outFile = args.Required("out");
        var evalFile = args.String("eval-file");
        var seqLen = args.Int("seq-len") ?? 128;
        var router = new RouterTrainingOptions
        {
            Budget = args.Double("budget") ?? 0.5,
            PenaltyWeight = args.Double("penalty") ?? 4.0,
            Temperature = args.Double("temperature") ?? 1.0,
            WindowTokens = seqLen + 1,
        };
        var options = TrainingArgs.Options(args, defaultSteps: 200, defaultLr: 1e-2);
        var evalWindows = args.Int("eval-windows") ?? 32;
        args.EnsureAllUsed();
        if (router.Budget is <= 0 or > 1) throw new CliException("--budget must be in (0, 1].");

        var tokenizer = TextTokenizer.Load(modelFolder);
        using var model = TrainableModel.Load(modelFolder);
        var stream = TrainingArgs.Tokenize(tokenizer, data);
        using var routers = RouterTraining.Train(model, stream, router, options, log: Console.Error);
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
        return 0;
    }
}
