using System.CommandLine;
using System.Globalization;
using System.Text;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Output;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip eval: perplexity and greedy agreement with the full model for every policy and ratio.</summary>
internal sealed class EvalCommand : CliCommand
{
    /// <summary>One row of the table, as written to --json.</summary>
    public sealed record Row(string model, string policy, double target, string kept_layers, string layers_run, double nats_per_token,
        double perplexity, double greedy_agreement, int tokens, double? generated_nats_per_token, double? generated_agreement, int generated_tokens);

    private readonly ModelOptions _model;
    private readonly Option<string> _file = Opt.ExistingFile("--file", "Text file to score.");
    private readonly Option<double[]> _speedups = Opt.Doubles("--speedup", "Target speedups to compare with full depth.", 1.25, 1.5, 2, 3);
    private readonly Option<LayerPolicy[]> _policies = Opt.Policies("--policy", "Policies to compare: " + SharedOptions.PolicyList + ". With routers loaded, they get a row of their own.",
        LayerPolicy.Unified, LayerPolicy.UnifiedEven, LayerPolicy.EarlyExit, LayerPolicy.SkipBottom, LayerPolicy.Random, LayerPolicy.Calibrated);
    private readonly Option<int> _seed = SharedOptions.Seed(description: "Seed of the random policy.");
    private readonly TextWindowOptions _windows;
    private readonly Option<int> _generate = Opt.Value("--generate", "Also generate greedy continuations of this many window openings under each plan, scored by the full model.", 4);
    private readonly Option<int> _generateTokens = Opt.Value("--generate-tokens", "Tokens generated per continuation.", 32);
    private readonly Option<string?> _markdown = Opt.Text("--markdown", "Also write the table to this markdown file.", "file");
    private readonly Option<string?> _json = SharedOptions.Json();

    public EvalCommand() : base("eval", "Perplexity and greedy agreement with the full model for every policy and speedup, as a markdown table.")
    {
        this.AddAll(_file, _speedups, _policies, _seed);
        _windows = new TextWindowOptions(this);
        this.AddAll(_generate, _generateTokens, _markdown, _json);
        _model = new ModelOptions(this);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var file = parse.GetValue(_file)!;
        var seed = parse.GetValue(_seed);
        var contextTokens = parse.GetValue(_windows.ContextTokens);
        using var json = new JsonLinesFile(parse.GetValue(_json));
        using var engine = _model.Load(parse, progress);
        var modelName = ModelOptions.FolderName(parse.GetValue(_model.Model)!);

        var plans = new List<LayerPlan> { LayerPlan.Full(engine.Config.NumLayers) };
        foreach (var r in parse.GetValue(_speedups)!)
            foreach (var p in parse.GetValue(_policies)!.Where(p => p != LayerPolicy.Router))
                plans.Add(await engine.CreatePlanAsync(p, r, seed));
        // With routers (--router FILE, or router.safetensors beside the model) they get a row of their own.
        var router = engine.Router;
        if (router is not null) plans.Add(LayerPlanner.Create(LayerPolicy.Router, 1, engine.Config.NumLayers));
        var windows = _windows.Build(parse, engine, File.ReadAllText(file));
        var generated = await GenerateUnderEachPlanAsync(engine, plans, windows, contextTokens, parse.GetValue(_generate), parse.GetValue(_generateTokens));
        router?.ResetRates();

        var table = new StringBuilder();
        table.AppendLine("| policy | target r | kept layers | layers run | nats/token | perplexity | greedy agreement | generated: full model's nats/token | generated: agreement with full greedy |");
        table.AppendLine("|---|---:|---:|---|---:|---:|---:|---:|---:|");
        void Measured(QualityResult r)
        {
            var name = r.Plan.IsFullDepth && r.Plan.Policy == LayerPolicy.None ? "full" : r.Plan.Policy.ToString().ToLowerInvariant();
            var (kept, layers) = r.Plan.Policy == LayerPolicy.Router
                ? (string.Create(CultureInfo.InvariantCulture, $"{router!.ExecutionRate * r.Plan.LayerCount:0.0}/{r.Plan.LayerCount} (mean)"), "per token: " +
                   string.Join(",", router.ExecutionRates.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture))))
                : ($"{r.Plan.KeptLayers.Count}/{r.Plan.LayerCount}", string.Join(",", r.Plan.KeptLayers));
            var g = generated[r.Plan];
            var line = string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {r.Plan.TargetSpeedup:0.##} | {kept} | {layers} | {r.NatsPerToken:0.000} | {r.Perplexity:0.00} | {r.GreedyAgreement:P1} | {(g.Tokens == 0 ? "–" : g.FullModelNatsPerToken.ToString("0.000", CultureInfo.InvariantCulture))} | {(g.Tokens == 0 ? "–" : g.Agreement.ToString("P1", CultureInfo.InvariantCulture))} |");
            table.AppendLine(line);
            progress.Log.WriteLine(line);
            json.Write(new Row(modelName, name, r.Plan.TargetSpeedup, kept, layers, Math.Round(r.NatsPerToken, 5), Math.Round(r.Perplexity, 4),
                Math.Round(r.GreedyAgreement, 5), r.Tokens, g.Tokens == 0 ? null : Math.Round(g.FullModelNatsPerToken, 5), g.Tokens == 0 ? null : Math.Round(g.Agreement, 5), g.Tokens));
        }

        IReadOnlyList<QualityResult> results;
        using (var task = progress.Start("eval", 0, "windows"))
            results = await engine.RunAsync(model => QualityReport.Compare(model, windows, plans, contextTokens, router, task, Measured));
        var header = $"{results[0].Tokens} tokens of {Path.GetFileName(file)} in {windows.Count} windows; first {contextTokens} positions of each window at full depth.";
        Console.WriteLine(header);
        Console.WriteLine();
        Console.Write(table);
        if (parse.GetValue(_markdown) is { } markdown) await File.WriteAllTextAsync(markdown, header + "\n\n" + table, cancellation);
        return 0;
    }

    /// <summary>
    /// Greedy continuations of the first windows' openings under every plan (the router plan routes), judged by the
    /// full model: what teacher forcing cannot show, such as a plan whose output collapses.
    /// </summary>
    private static async Task<Dictionary<LayerPlan, GeneratedTextQuality>> GenerateUnderEachPlanAsync(InferenceEngine engine, List<LayerPlan> plans,
        IReadOnlyList<int[]> windows, int contextTokens, int prompts, int tokens)
    {
        var openings = windows.Take(Math.Max(0, prompts)).Select(w => w.Take(Math.Max(1, contextTokens)).ToArray()).ToList();
        async Task<List<IReadOnlyList<int>>> Generate(LayerPlan plan) => (await Task.WhenAll(openings.Select(p => engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [], Plan = plan.IsFullDepth && plan.Policy != LayerPolicy.Router ? null : plan,
        })))).Select(r => r.Tokens).ToList();
        var full = await Generate(plans[0]);
        var result = new Dictionary<LayerPlan, GeneratedTextQuality>(ReferenceEqualityComparer.Instance);
        foreach (var plan in plans)
        {
            var outputs = await Generate(plan);
            var quality = new GeneratedTextQuality();
            await engine.RunAsync(m =>
            {
                for (var i = 0; i < openings.Count; i++) quality.Add(m, openings[i], outputs[i], full[i]);
                return 0;
            });
            result[plan] = quality;
        }
        return result;
    }
}
