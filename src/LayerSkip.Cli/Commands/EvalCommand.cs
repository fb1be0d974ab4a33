using System.Globalization;
using System.Text;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip eval: perplexity and greedy agreement with the full model for every policy and ratio.</summary>
internal static class EvalCommand
{
    private static readonly string[] DefaultPolicies = ["unified", "unifiedeven", "earlyexit", "skipbottom", "random", "calibrated"];

    public static async Task<int> RunAsync(CliArgs args)
    {
        var file = args.Required("file");
        if (!File.Exists(file)) throw new CliException($"File not found: {file}");
        var speedups = args.DoubleList("speedup", 1.25, 1.5, 2, 3);
        var policies = args.List("policy", DefaultPolicies).Select(LayerPlanner.ParsePolicy).ToList();
        var maxTokens = args.Int("max-tokens");
        var contextTokens = args.Int("context-tokens") ?? 16;
        var window = args.Int("window");
        var seed = args.Int("seed") ?? 0;
        var markdown = args.String("markdown");
        using var engine = EngineFactory.Load(args);
        args.EnsureAllUsed();

        var plans = new List<LayerPlan> { LayerPlan.Full(engine.Config.NumLayers) };
        foreach (var r in speedups)
            foreach (var p in policies.Where(p => p != LayerPolicy.Router))
                plans.Add(await engine.CreatePlanAsync(p, r, seed));
        // With routers (--router FILE, or router.safetensors beside the model) they get a row of their own.
        var router = engine.Router;
        if (router is not null) plans.Add(LayerPlanner.Create(LayerPolicy.Router, 1, engine.Config.NumLayers));
        var windows = TextWindows.Build(engine, File.ReadAllText(file), window, maxTokens);
        router?.ResetRates();
        var results = await engine.RunAsync(model => QualityReport.Compare(model, windows, plans, contextTokens, router));

        var table = new StringBuilder();
        table.AppendLine("| policy | target r | kept layers | layers run | nats/token | perplexity | greedy agreement |");
        table.AppendLine("|---|---:|---:|---|---:|---:|---:|");
        foreach (var r in results)
        {
            var name = r.Plan.IsFullDepth && r.Plan.Policy == LayerPolicy.None ? "full" : r.Plan.Policy.ToString().ToLowerInvariant();
            var (kept, layers) = r.Plan.Policy == LayerPolicy.Router
                ? (string.Create(CultureInfo.InvariantCulture, $"{router!.ExecutionRate * r.Plan.LayerCount:0.0}/{r.Plan.LayerCount} (mean)"), "per token: " +
                   string.Join(",", router.ExecutionRates.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture))))
                : ($"{r.Plan.KeptLayers.Count}/{r.Plan.LayerCount}", string.Join(",", r.Plan.KeptLayers));
            table.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {r.Plan.TargetSpeedup:0.##} | {kept} | {layers} | {r.NatsPerToken:0.000} | {r.Perplexity:0.00} | {r.GreedyAgreement:P1} |"));
        }
        var header = $"{results[0].Tokens} tokens of {Path.GetFileName(file)} in {windows.Count} windows; first {contextTokens} positions of each window at full depth.";
        Console.WriteLine(header);
        Console.WriteLine();
        Console.Write(table);
        if (markdown is not null) await File.WriteAllTextAsync(markdown, header + "\n\n" + table);
        return 0;
    }
}
