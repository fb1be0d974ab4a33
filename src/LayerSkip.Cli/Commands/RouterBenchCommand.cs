using System.CommandLine;
using System.Globalization;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench-router: batch-1 greedy decoding through the engine, full depth versus the model's trained token
/// routers (a routed-out layer computes only the token's keys and values), with the routers' measured execution rate.
/// </summary>
internal sealed class RouterBenchCommand : CliCommand
{
    private readonly Option<string> _model = SharedOptions.Model();
    private readonly Option<string?> _router = SharedOptions.Router();
    private readonly Option<int> _tokens = Opt.Value("--tokens", "Tokens generated per prompt.", 64);
    private readonly Option<int> _prompts = Opt.Value("--prompts", "Prompts, each decoded at full depth and routed in turn.", 5);
    private readonly Option<int?> _threads = SharedOptions.Threads();

    public RouterBenchCommand() : base("bench-router", "Batch-1 greedy decoding at full depth versus with trained token routers, with the routers' measured execution rate.") =>
        this.AddAll(_model, _router, _tokens, _prompts, _threads);

    protected override async Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var model = parse.GetValue(_model)!;
        var tokens = parse.GetValue(_tokens);
        var prompts = parse.GetValue(_prompts);
        InferenceEngine engine;
        using (progress.Start($"load {ModelOptions.FolderName(model)}"))
            engine = InferenceEngine.Load(new EngineOptions
            {
                ModelPath = model, Device = "cpu", RouterPath = parse.GetValue(_router), MaxBatchSize = 1, Threads = parse.GetValue(_threads),
            });
        using var _ = engine;
        var router = engine.Router ?? throw new CliException("No routers: pass --router FILE or put router.safetensors in the model folder.");
        var routed = LayerPlanner.Create(LayerPolicy.Router, 1, engine.Config.NumLayers);
        var rng = new Random(9);
        double fullSeconds = 0, routedSeconds = 0;
        long fullTokens = 0, routedTokens = 0;
        using (var task = progress.Start("bench-router", prompts, "prompts"))
            for (var i = 0; i < prompts; i++)
            {
                var prompt = new List<int[]> { DecodeTiming.Prompt(engine, rng) };
                // Alternate full and routed runs so drift affects both alike.
                var full = await DecodeTiming.MeasureAsync(engine, prompt, p => new GenerationRequest { PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [] });
                router.ResetRates();
                var viaRouter = await DecodeTiming.MeasureAsync(engine, prompt, p => new GenerationRequest { PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [], Plan = routed });
                fullSeconds += (tokens - 1) / full.Rate; fullTokens += tokens - 1;
                routedSeconds += (tokens - 1) / viaRouter.Rate; routedTokens += tokens - 1;
                task.Advance();
            }
        var fullRate = fullTokens / fullSeconds;
        var routedRate = routedTokens / routedSeconds;
        Console.WriteLine("| model | routers | execution rate | full tok/s | routed tok/s | speedup |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {ModelOptions.FolderName(model)} | budget {router.Budget:0.##} | {router.ExecutionRate:P1} | {fullRate:0.0} | {routedRate:0.0} | {routedRate / fullRate:0.00}x |"));
        return 0;
    }
}
