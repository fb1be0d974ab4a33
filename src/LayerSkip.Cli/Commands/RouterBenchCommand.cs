using System.Globalization;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench-router: batch-1 greedy decoding through the engine, full depth versus the model's trained token
/// routers (a routed-out layer computes only the token's keys and values), with the routers' measured execution rate.
/// </summary>
internal static class RouterBenchCommand
{
    public static async Task<int> RunAsync(CliArgs args)
    {
        var model = args.Required("model");
        var routerFile = args.String("router");
        var tokens = args.Int("tokens") ?? 64;
        var prompts = args.Int("prompts") ?? 5;
        var threads = args.Int("threads");
        args.EnsureAllUsed();

        using var engine = InferenceEngine.Load(new EngineOptions { ModelPath = model, Device = "cpu", RouterPath = routerFile, MaxBatchSize = 1, Threads = threads });
        var router = engine.Router ?? throw new CliException("No routers: pass --router FILE or put router.safetensors in the model folder.");
        var routed = LayerPlanner.Create(LayerPolicy.Router, 1, engine.Config.NumLayers);
        var rng = new Random(9);
        double fullSeconds = 0, routedSeconds = 0;
        long fullTokens = 0, routedTokens = 0;
        for (var i = 0; i < prompts; i++)
        {
            var prompt = new List<int[]> { DecodeTiming.Prompt(engine, rng) };
            // Alternate full and routed runs so drift affects both alike.
            var full = await DecodeTiming.MeasureAsync(engine, prompt, p => new GenerationRequest { PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [] });
            router.ResetRates();
            var viaRouter = await DecodeTiming.MeasureAsync(engine, prompt, p => new GenerationRequest { PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [], Plan = routed });
            fullSeconds += (tokens - 1) / full.Rate; fullTokens += tokens - 1;
            routedSeconds += (tokens - 1) / viaRouter.Rate; routedTokens += tokens - 1;
        }
        var fullRate = fullTokens / fullSeconds;
        var routedRate = routedTokens / routedSeconds;
        Console.WriteLine("| model | routers | execution rate | full tok/s | routed tok/s | speedup |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(model)))} | budget {router.Budget:0.##} | {router.ExecutionRate:P1} | {fullRate:0.0} | {routedRate:0.0} | {routedRate / fullRate:0.00}x |"));
        return 0;
    }
}
