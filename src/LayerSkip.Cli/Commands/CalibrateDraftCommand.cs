using System.CommandLine;
using System.Globalization;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Output;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip calibrate-draft: measures candidate speculative drafts (precision × layer plan) on a model, their
/// acceptance on a few prompts and the cost of their steps on this machine, and prints the one the scheduler's cost
/// model expects to be fastest, as the options that select it.
/// </summary>
internal sealed class CalibrateDraftCommand : CliCommand
{
    public sealed record Row(string model, string draft_precision, double target, int kept_layers, double acceptance, double draft_cost,
        double verify_cost_per_token, int draft_tokens, double expected_speedup, long draft_extra_bytes, int scored_tokens);

    private readonly ModelOrShapeOptions _source;
    private readonly Option<WeightFormat[]> _precisions = Opt.Precisions("--draft-precision", "Draft precisions to try: none (the model's own weights), int8, int4.",
        WeightFormat.None, WeightFormat.Int8, WeightFormat.Int4);
    private readonly Option<double[]> _speedups = Opt.Doubles("--speedup", "Target speedups of the drafting plans to try (1: every layer).", 1, 1.25, 1.5, 2);
    private readonly Option<LayerPolicy?> _policy = Opt.Policy("--policy", "Policy of the drafting plans: " + SharedOptions.PolicyList + ". Default: unified.");
    private readonly Option<int> _prompts = Opt.Value("--prompts", "Prompts the acceptance is measured on (story openings, or random tokens without a tokenizer).", 4);
    private readonly Option<int> _tokens = Opt.Value("--tokens", "Tokens generated per prompt to measure acceptance.", 48);
    private readonly Option<int> _draft = Opt.Value("--draft-tokens", "The most tokens drafted per verification (the cost of verifying them is measured).", 6);
    private readonly Option<int> _rounds = Opt.Value("--rounds", "Timing rounds (plain, draft and verification steps interleaved; medians).", 12);
    private readonly Option<string?> _json = SharedOptions.Json();

    public CalibrateDraftCommand() : base("calibrate-draft",
        "Measure speculative drafts (precision × layer plan): acceptance, step costs and expected speedup; print the best.")
    {
        _source = new ModelOrShapeOptions(this);
        this.AddAll(_precisions, _speedups, _policy, _prompts, _tokens, _draft, _rounds, _json);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var promptCount = parse.GetValue(_prompts);
        var tokens = parse.GetValue(_tokens);
        var draftTokens = parse.GetValue(_draft);
        var rounds = parse.GetValue(_rounds);
        if (promptCount < 1) throw new CliException($"--prompts must be at least 1, got {promptCount}.");
        if (tokens < 2) throw new CliException($"--tokens must be at least 2, got {tokens}.");
        if (draftTokens is < 1 or > 16) throw new CliException($"--draft-tokens must be between 1 and 16, got {draftTokens}.");
        if (rounds < 3) throw new CliException($"--rounds must be at least 3, got {rounds}.");
        var policy = parse.GetValue(_policy) ?? LayerPolicy.Unified;
        using var json = new JsonLinesFile(parse.GetValue(_json));

        var (engine, name) = _source.Load(parse, progress, promptCount, 64 + tokens + draftTokens);
        using var _ = engine;
        var own = engine.Model.Quantization.Format;
        var candidates = new List<DraftConfiguration>();
        foreach (var r in parse.GetValue(_speedups)!.Distinct())
        {
            var plan = await engine.CreatePlanAsync(policy, r, cancellationToken: cancellation);
            foreach (var precision in parse.GetValue(_precisions)!.Select(p => p == own ? WeightFormat.None : p).Distinct())
                if (!(plan.IsFullDepth && precision == WeightFormat.None)) // that draft is the model itself
                    candidates.Add(new DraftConfiguration(plan, precision));
        }
        if (candidates.Count == 0) throw new CliException("No candidate drafts: add --speedup R > 1 or --draft-precision int8|int4.");

        var rng = new Random(9);
        var prompts = Enumerable.Range(0, promptCount).Select(_ => (IReadOnlyList<int>)DecodeTiming.Prompt(engine, rng)).ToList();
        var rows = new List<Row>();
        IReadOnlyList<DraftCalibrationResult> results;
        using (var task = progress.Start("calibrate-draft", candidates.Count, "drafts"))
            results = await DraftCalibration.MeasureAsync(engine, prompts, candidates, tokens, draftTokens, rounds,
                new Progress(r =>
                {
                    var row = ToRow(name, r);
                    json.Write(row);
                    progress.Log.WriteLine(Format(row));
                    task.Advance();
                }), cancellation);

        Console.WriteLine();
        Console.WriteLine("| model | draft precision | target r | draft layers | acceptance | draft step / plain | verify per draft / plain | draft tokens | expected speedup | extra memory |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results) Console.WriteLine(Format(ToRow(name, r)));
        Console.WriteLine();
        var best = DraftCalibration.Best(results);
        Console.WriteLine(best is null
            ? "No draft is expected to beat plain decoding here: speculative mode would fall back to plain steps (probing now and then)."
            : string.Create(CultureInfo.InvariantCulture,
                $"Best draft: {best.Draft} — expected {best.ExpectedSpeedup:0.00}x plain at acceptance {best.Acceptance:P0}. Use: --mode speculative --speedup {best.Draft.Plan.TargetSpeedup:0.##} --draft-precision {best.Draft.Precision.ToString().ToLowerInvariant()}"));
        return 0;
    }

    private static Row ToRow(string model, DraftCalibrationResult r) => new(model, r.Draft.Precision.ToString().ToLowerInvariant(), r.Draft.Plan.TargetSpeedup,
        r.Draft.Plan.KeptCount, Math.Round(r.Acceptance, 3), Math.Round(r.DraftCost, 3), Math.Round(r.VerifyCostPerToken, 3), r.DraftTokens,
        Math.Round(r.ExpectedSpeedup, 3), r.ExtraBytes, r.ScoredTokens);

    private static string Format(Row r) => string.Create(CultureInfo.InvariantCulture,
        $"| {r.model} | {r.draft_precision} | {r.target:0.##} | {r.kept_layers} | {r.acceptance:P0} | {r.draft_cost:0.00} | {r.verify_cost_per_token:0.000} | {r.draft_tokens} | {r.expected_speedup:0.00}x | {r.draft_extra_bytes / 1048576.0:0.#} MiB |");

    /// <summary>Reports synchronously, on the thread that measured (System.Progress would post to the thread pool).</summary>
    private sealed class Progress(Action<DraftCalibrationResult> report) : IProgress<DraftCalibrationResult>
    {
        public void Report(DraftCalibrationResult value) => report(value);
    }
}
