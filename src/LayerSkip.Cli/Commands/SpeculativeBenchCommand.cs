using System.Globalization;
using System.CommandLine;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Output;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench-speculative: greedy decoding through the engine's scheduler, full depth versus self-speculative
/// (the plan drafts, full depth verifies), on a real model folder or a random-weight shape. With --plant, the layers
/// the plan skips get near-zero output projections, so the draft agrees with the full model almost always: the
/// upper end of what speculation can give on that shape. Drafts copied from the context (--draft-source lookup) run no
/// layers, so they get one row per batch size whatever --speedup and --draft-precision say.
/// </summary>
internal sealed class SpeculativeBenchCommand : CliCommand
{
    public sealed record Row(string model, int batch, double target, int kept_layers, int draft_tokens, double acceptance_rate,
        double tokens_per_full_pass, double full_tokens_per_s, double speculative_tokens_per_s, double speedup, bool identical,
        bool adaptive, int repeats, double speedup_min, double speedup_max, string draft_precision = "none", long draft_extra_bytes = 0, string draft_source = "model");

    private readonly ModelOrShapeOptions _source;
    private readonly Option<bool> _plant = Opt.Flag("--plant", "With --shape: shrink the skipped layers' output projections so the draft almost always agrees (the upper bound of speculation).");
    private readonly Option<int[]> _batches = Opt.Ints("--batch", "Batch sizes.", 1, 4);
    private readonly Option<double[]> _speedups = Opt.Doubles("--speedup", "Target speedups of the drafting plan (1: the draft runs every layer, useful with --draft-precision).", 1.5, 2, 3);
    private readonly Option<WeightFormat[]> _precisions = Opt.Precisions("--draft-precision",
        "Precisions the drafts run at: none (the model's own weights), int8 or int4 (quantized copies of them); each is combined with each --speedup.", WeightFormat.None);
    private readonly Option<DraftSource[]> _sources = Opt.DraftSources("--draft-source",
        "Where drafts come from: model (the plan at each --draft-precision) and/or lookup (tokens copied from the prompt and output, one row per batch size).", DraftSource.Model);
    private readonly Option<string?> _prompts = Opt.Text("--prompts", "Text file whose first passages (separated by blank lines) are the prompts, instead of short story openings.", "file");
    private readonly Option<int> _promptTokens = Opt.Value("--prompt-tokens", "With --prompts: the most tokens of a passage a prompt keeps.", 256);
    private readonly Option<LayerPolicy?> _policy = Opt.Policy("--policy", "Policy of the drafting plan: " + SharedOptions.PolicyList + ". Default: unified.");
    private readonly Option<int> _tokens = Opt.Value("--tokens", "Tokens generated per request.", 64);
    private readonly Option<int> _draft = Opt.Value("--draft-tokens", "The most tokens drafted before each full-depth verification.", 4);
    private readonly Option<bool> _fixed = Opt.Flag("--fixed-draft", "Draft exactly --draft-tokens every round instead of adapting the length to the measured acceptance and costs.");
    private readonly Option<int> _repeat = Opt.Value("--repeat", "Measure each row N times, plain and speculative alternating; the table shows median rates and the min/max of the ratio.", 1);
    private readonly Option<string?> _json = SharedOptions.Json();

    public SpeculativeBenchCommand() : base("bench-speculative",
        "Greedy decoding at full depth versus self-speculative decoding (the plan drafts, full depth verifies), on a model folder or a random-weight shape.")
    {
        _source = new ModelOrShapeOptions(this);
        this.AddAll(_plant, _batches, _speedups, _precisions, _sources, _prompts, _promptTokens, _policy, _tokens, _draft, _fixed, _repeat, _json);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var plant = parse.GetValue(_plant);
        var batches = parse.GetValue(_batches)!;
        var speedups = parse.GetValue(_speedups)!;
        var policy = parse.GetValue(_policy) ?? LayerPolicy.Unified;
        var tokens = parse.GetValue(_tokens);
        var draft = parse.GetValue(_draft);
        var precisions = parse.GetValue(_precisions)!;
        var adaptive = !parse.GetValue(_fixed);
        var repeats = parse.GetValue(_repeat);
        if (repeats < 1) throw new CliException($"--repeat must be at least 1, got {repeats}.");
        if (plant && !_source.IsShape(parse)) throw new CliException("--plant changes random weights: use it with --shape.");
        using var json = new JsonLinesFile(parse.GetValue(_json));

        var (engine, name) = _source.Load(parse, progress, batches.Max(), 64 + tokens * 2);
        if (plant) name += " (planted)";
        using var _ = engine;
        var sources = parse.GetValue(_sources)!;
        var promptFile = parse.GetValue(_prompts);
        var promptTokens = parse.GetValue(_promptTokens);
        if (promptTokens < 1) throw new CliException($"--prompt-tokens must be at least 1, got {promptTokens}.");
        var rows = new List<Row>();

        // The same prompts for every draft at a batch size, so the rows compare drafts, not prompts.
        List<int[]> PromptsFor(int batch)
        {
            if (promptFile is not null) return DecodeTiming.PromptsFromFile(engine, promptFile, batch, promptTokens);
            var rng = new Random(9 + batch);
            return Enumerable.Range(0, batch).Select(_ => DecodeTiming.Prompt(engine, rng)).ToList();
        }

        async Task<Row> MeasureAsync(LayerPlan plan, double r, WeightFormat precision, DraftSource source, int batch, long extra)
        {
            var prompts = PromptsFor(batch);
            GenerationRequest Plain(IReadOnlyList<int> p, int n) => new() { PromptTokens = p, MaxNewTokens = n, StopTokenIds = [] };
            GenerationRequest Speculative(IReadOnlyList<int> p, int n) => Plain(p, n) with
            {
                Plan = plan, Speculative = new SpeculativeOptions { MaxDraftTokens = draft, Adaptive = adaptive, DraftPrecision = precision, Drafts = source },
            };
            // One untimed run of each first, as long as the timed ones: the first rounds of a process run code that is
            // not yet fully compiled, and a draft length's first verification is slow (see docs/benchmarks.md).
            await DecodeTiming.MeasureAsync(engine, prompts, p => Plain(p, tokens));
            await DecodeTiming.MeasureAsync(engine, prompts, p => Speculative(p, tokens));
            var fulls = new List<DecodeTiming.Measured>();
            var specs = new List<DecodeTiming.Measured>();
            for (var i = 0; i < repeats; i++)
            {
                fulls.Add(await DecodeTiming.MeasureAsync(engine, prompts, p => Plain(p, tokens)));
                specs.Add(await DecodeTiming.MeasureAsync(engine, prompts, p => Speculative(p, tokens)));
            }
            var identical = fulls.Zip(specs).All(pair => pair.First.Outputs.Zip(pair.Second.Outputs).All(p => p.First.SequenceEqual(p.Second)));
            var ratios = fulls.Zip(specs, (f, sp) => sp.Rate / f.Rate).ToList();
            var full = Median(fulls.Select(f => f.Rate));
            var spec = specs.OrderBy(x => x.Rate).ElementAt(specs.Count / 2);
            var row = new Row(name, batch, r, plan.KeptLayers.Count, draft, Math.Round(spec.Acceptance, 3), Math.Round(spec.TokensPerPass, 2),
                Math.Round(full, 2), Math.Round(spec.Rate, 2), Math.Round(Median(ratios), 3), identical,
                adaptive, repeats, Math.Round(ratios.Min(), 3), Math.Round(ratios.Max(), 3), precision.ToString().ToLowerInvariant(), extra,
                source.ToString().ToLowerInvariant());
            rows.Add(row);
            json.Write(row);
            progress.Log.WriteLine(Format(row));
            return row;
        }

        var modelRows = sources.Contains(DraftSource.Model) ? (plant ? 1 : speedups.Length) * precisions.Length : 0;
        var lookupRows = sources.Contains(DraftSource.Lookup) && !plant ? 1 : 0;
        using (var task = progress.Start("bench-speculative", (modelRows + lookupRows) * batches.Length, "rows"))
        {
            if (lookupRows > 0)
            {
                var full = LayerPlan.Full(engine.Config.NumLayers);
                foreach (var batch in batches)
                {
                    await MeasureAsync(full, 1, WeightFormat.None, DraftSource.Lookup, batch, 0);
                    task.Advance();
                }
            }
            if (modelRows > 0)
                foreach (var r in plant ? speedups.Take(1) : speedups) // planting changes the weights for one plan only
                {
                    var plan = await engine.CreatePlanAsync(policy, r, cancellationToken: cancellation);
                    if (plant) await engine.RunAsync(m => { Plant(m, plan); return 0; });
                    foreach (var precision in precisions)
                    {
                        if (plan.IsFullDepth && (precision == WeightFormat.None || precision == engine.Model.Quantization.Format))
                        {
                            progress.Log.WriteLine($"skipped: a draft with every layer at the model's own precision is the model itself (r = {r}, {precision}).");
                            task.Advance(batches.Length);
                            continue;
                        }
                        var extra = await engine.RunAsync(m => m.PrepareDraftWeights(precision));
                        foreach (var batch in batches)
                        {
                            await MeasureAsync(plan, r, precision, DraftSource.Model, batch, extra);
                            task.Advance();
                        }
                    }
                }
        }
        Console.WriteLine();
        Console.WriteLine("| model | batch | drafts | target r | draft layers | draft precision | draft tokens | acceptance | tokens per full pass | full tok/s | speculative tok/s | speedup (median) | min–max | identical output |");
        Console.WriteLine("|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var row in rows) Console.WriteLine(Format(row));
        return 0;
    }

    private static string Format(Row r) => string.Create(CultureInfo.InvariantCulture,
        $"| {r.model} | {r.batch} | {r.draft_source} | {r.target:0.##} | {r.kept_layers} | {r.draft_precision}{(r.draft_extra_bytes > 0 ? $" (+{r.draft_extra_bytes / 1048576.0:0.#} MiB)" : "")} | {(r.adaptive ? "≤" : "")}{r.draft_tokens} | {r.acceptance_rate:P0} | {r.tokens_per_full_pass:0.00} | {r.full_tokens_per_s:0.0} | {r.speculative_tokens_per_s:0.0} | {r.speedup:0.00}x | {r.speedup_min:0.00}–{r.speedup_max:0.00} | {(r.identical ? "yes" : "NO")} |");

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Scales the output projections of the layers the plan skips to almost nothing.</summary>
    private static void Plant(DecoderModel model, LayerPlan plan)
    {
        for (var l = 0; l < model.Config.NumLayers; l++)
        {
            if (plan.Runs(l)) continue;
            model.Weights.Layers[l].Output.mul_(1e-3);
            model.Weights.Layers[l].Down.mul_(1e-3);
        }
    }
}
