using System.CommandLine;
using System.Globalization;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Output;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Training.Routing;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench-router: batch-1 greedy decoding through the engine, full depth versus the model's trained token
/// routers (a routed-out layer computes only the token's keys and values), with the routers' execution rate over all
/// prompts (layers run, and compute with the skipped tokens' K/V projections counted) and, at the same operating
/// point, the quality of the routed text as the full model judges it.
/// </summary>
internal sealed class RouterBenchCommand : CliCommand
{
    /// <summary>The result, as written to --json.</summary>
    public sealed record Row(string model, double budget, int prompts, int tokens, double layers_run_rate, double compute_rate, double full_tokens_per_s,
        double routed_tokens_per_s, double speedup, double routed_text_nats_per_token, double full_text_nats_per_token, double agreement);

    private readonly Option<string> _model = SharedOptions.Model();
    private readonly Option<string?> _router = SharedOptions.Router();
    private readonly Option<int> _tokens = Opt.Value("--tokens", "Tokens generated per prompt.", 64);
    private readonly Option<int> _prompts = Opt.Value("--prompts", "Prompts, each decoded at full depth and routed in turn.", 5);
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly Option<string?> _json = SharedOptions.Json();

    public RouterBenchCommand() : base("bench-router", "Batch-1 greedy decoding at full depth versus with trained token routers: execution rate, speed, and the quality of the routed text.") =>
        this.AddAll(_model, _router, _tokens, _prompts, _threads, _json);

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
        using var json = new JsonLinesFile(parse.GetValue(_json));
        var router = engine.Router ?? throw new CliException("No routers: pass --router FILE or put router.safetensors in the model folder.");
        var routed = LayerPlanner.Create(LayerPolicy.Router, 1, engine.Config.NumLayers);
        var rng = new Random(9);
        double fullSeconds = 0, routedSeconds = 0;
        long fullTokens = 0, routedTokens = 0;
        var routedQuality = new GeneratedTextQuality();
        var fullQuality = new GeneratedTextQuality();
        router.ResetRates(); // the rate covers every prompt's routed decoding (prefills run all layers, unrouted)
        using (var task = progress.Start("bench-router", prompts, "prompts"))
            for (var i = 0; i < prompts; i++)
            {
                var prompt = new List<int[]> { DecodeTiming.Prompt(engine, rng) };
                // Alternate full and routed runs so drift affects both alike.
                var full = await DecodeTiming.MeasureAsync(engine, prompt, p => new GenerationRequest { PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [] });
                var viaRouter = await DecodeTiming.MeasureAsync(engine, prompt, p => new GenerationRequest { PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [], Plan = routed });
                fullSeconds += (full.Outputs[0].Count - 1) / full.Rate; fullTokens += full.Outputs[0].Count - 1;
                routedSeconds += (viaRouter.Outputs[0].Count - 1) / viaRouter.Rate; routedTokens += viaRouter.Outputs[0].Count - 1;
                // Quality of what was generated, judged by the full model (scoring runs no routers: the rate is unaffected).
                await engine.RunAsync(m =>
                {
                    routedQuality.Add(m, prompt[0], viaRouter.Outputs[0], full.Outputs[0]);
                    fullQuality.Add(m, prompt[0], full.Outputs[0], full.Outputs[0]);
                    return 0;
                });
                task.Advance();
            }
        var fullRate = fullTokens / fullSeconds;
        var routedRate = routedTokens / routedSeconds;
        var rate = router.ExecutionRate;
        var row = new Row(ModelOptions.FolderName(model), router.Budget, prompts, tokens, Math.Round(rate, 4),
            Math.Round(RoutedCost.ComputeWeightedRate(rate, engine.Config), 4), Math.Round(fullRate, 2), Math.Round(routedRate, 2), Math.Round(routedRate / fullRate, 3),
            Math.Round(routedQuality.FullModelNatsPerToken, 4), Math.Round(fullQuality.FullModelNatsPerToken, 4), Math.Round(routedQuality.Agreement, 4));
        json.Write(row);
        Console.WriteLine("| model | routers | layers run | compute (K/V of skipped tokens counted) | full tok/s | routed tok/s | speedup | full model's nats/token on routed text | on its own text | agreement with full greedy |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {row.model} | budget {row.budget:0.##} | {row.layers_run_rate:P1} | {row.compute_rate:P1} | {row.full_tokens_per_s:0.0} | {row.routed_tokens_per_s:0.0} | {row.speedup:0.00}x | {row.routed_text_nats_per_token:0.000} | {row.full_text_nats_per_token:0.000} | {row.agreement:P1} |"));
        return 0;
    }
}
