using System.CommandLine;
using System.Diagnostics;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using System.Globalization;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Training.Routing;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip generate: streams the continuation of a prompt to stdout, statistics to stderr.</summary>
internal sealed class GenerateCommand : CliCommand
{
    private readonly ModelOptions _model;
    private readonly PlanOptions _plan;
    private readonly Option<string> _prompt = Opt.Required("--prompt", "Text to continue.");
    private readonly Option<int> _maxTokens = Opt.Value("--max-tokens", "Most tokens to generate.", 128);
    private readonly Option<double?> _temperature = Opt.Maybe<double>("--temperature", "Sampling temperature; 0 is greedy (default: the model's generation_config.json, else 0.7).");
    private readonly Option<double?> _topP = Opt.Maybe<double>("--top-p", "Nucleus sampling: smallest set of tokens whose probability reaches P (default: the model's).");
    private readonly Option<int?> _topK = Opt.Maybe<int>("--top-k", "Sample among the K most likely tokens (default: the model's).");
    private readonly Option<bool> _noBos = Opt.Flag("--no-bos", "Do not open the prompt with the BOS token.");
    private readonly Option<string> _mode = Opt.OneOf("--mode",
        "skip: decode with the plan's layers only; speculative: the plan drafts and the full model verifies, so the text is the full model's.",
        "skip", "skip", "speculative");
    private readonly Option<string> _draftPrecision = Opt.OneOf("--draft-precision",
        "Speculative mode: the precision drafts run at: none (the model's own weights), int8 or int4 (quantized copies, extra memory; with --speedup 1 the draft runs every layer).",
        "none", "none", "int8", "int4");
    private readonly Option<string> _draftSource = Opt.OneOf("--draft-source",
        "Speculative mode: where drafts come from: model (the plan, at --draft-precision) or lookup (tokens copied from where the latest few tokens occurred before in the prompt or output; no draft steps, no plan needed).",
        "model", "model", "lookup");
    private readonly Option<int> _draftTokens = Opt.Value("--draft-tokens", "Speculative mode: the most tokens drafted per verification (the length adapts to the measured acceptance and costs).", 6);

    public GenerateCommand() : base("generate", "Continue a prompt, printing the text as it is generated; statistics (decode tokens/s) go to stderr.")
    {
        this.AddAll(_prompt, _maxTokens, _temperature, _topP, _topK, _noBos, _mode, _draftSource, _draftPrecision, _draftTokens);
        _plan = new PlanOptions(this);
        _model = new ModelOptions(this);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        using var engine = _model.Load(parse, progress, maxBatchSize: 1);
        var plan = await _plan.BuildAsync(parse, engine);
        var speculative = parse.GetValue(_mode) == "speculative";
        var draftPrecision = WeightQuantization.Parse(parse.GetValue(_draftPrecision), optionName: "--draft-precision").Format;
        if (draftPrecision == engine.Model.Quantization.Format) draftPrecision = WeightFormat.None;
        var lookup = parse.GetValue(_draftSource) == "lookup";
        if (lookup && !speculative) throw new CliException("--draft-source is for --mode speculative.");
        if (lookup && draftPrecision != WeightFormat.None) throw new CliException("--draft-source lookup copies its drafts and runs no model: drop --draft-precision.");
        if (lookup && !plan.IsFullDepth) throw new CliException("--draft-source lookup copies its drafts and runs no layers: drop --speedup, --layers and --policy.");
        if (speculative && !lookup && plan.IsFullDepth && draftPrecision == WeightFormat.None)
            throw new CliException("--mode speculative drafts with a layer plan or at a lower precision: give --speedup R > 1 (or --layers), or --draft-precision int8|int4.");
        if (!speculative && draftPrecision != WeightFormat.None) throw new CliException("--draft-precision is for --mode speculative.");
        if (parse.GetValue(_draftTokens) < 1) throw new CliException($"--draft-tokens must be at least 1, got {parse.GetValue(_draftTokens)}.");
        var tokenizer = engine.Tokenizer;
        var request = new GenerationRequest
        {
            PromptTokens = tokenizer.Encode(parse.GetValue(_prompt)!, addBos: !parse.GetValue(_noBos) && tokenizer.AddBosByDefault),
            MaxNewTokens = parse.GetValue(_maxTokens),
            Plan = plan,
            Speculative = speculative ? new SpeculativeOptions
            {
                MaxDraftTokens = parse.GetValue(_draftTokens), DraftPrecision = draftPrecision, Drafts = lookup ? DraftSource.Lookup : DraftSource.Model,
            } : null,
            Sampling = SamplingOptions.ForModel(engine.Config, parse.GetValue(_temperature), parse.GetValue(_topP), parse.GetValue(_topK), parse.GetValue(_plan.Seed)),
        };

        engine.Router?.ResetRates();
        var clock = Stopwatch.StartNew();
        var stream = engine.Submit(request, cancellation);
        var decoder = tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
        var stdout = Console.Out;
        await foreach (var token in stream.ReadAllAsync(cancellation))
        {
            stdout.Write(decoder.Append(token));
            stdout.Flush();
        }
        stdout.Write(decoder.Flush());
        stdout.WriteLine();
        var summary = await stream.Completion;
        var decodeSeconds = summary.DecodeTime.TotalSeconds;
        var weightBytes = await engine.RunAsync(m => m.WeightBytes); // after the round that finished the request, so the KV figures include it
        var draftBytes = await engine.RunAsync(m => m.DraftWeightBytes);
        var label = speculative && lookup ? "speculative, drafts copied from the context"
            : speculative ? $"speculative, drafts by {ModelOptions.Describe(plan)}" +
                (draftPrecision == WeightFormat.None ? "" : $" at {draftPrecision.ToString().ToLowerInvariant()} (+{Size(draftBytes)} of draft weights)")
            : plan.Policy == LayerPolicy.Router && engine.Router is { } router
                ? string.Create(CultureInfo.InvariantCulture,
                    $"router: {router.ExecutionRate:P0} of layers run, {RoutedCost.ComputeWeightedRate(router.ExecutionRate, engine.Config):P0} of layer compute")
                : ModelOptions.Describe(plan);
        var acceptance = speculative
            ? $"; acceptance {summary.AcceptanceRate:P0} ({summary.AcceptedDraftTokens}/{summary.DraftedTokens} drafts, {summary.FullDepthPasses} full-depth passes)"
            : "";
        progress.Log.WriteLine(
            $"[{label}] prompt {summary.PromptTokens} tokens, generated {summary.GeneratedTokens} " +
            $"({summary.FinishReason.ToString().ToLowerInvariant()}); prefill {summary.PrefillTime.TotalMilliseconds:0} ms; " +
            $"decode {(summary.GeneratedTokens > 1 && decodeSeconds > 0 ? (summary.GeneratedTokens - 1) / decodeSeconds : 0):0.0} tokens/s{acceptance}; " +
            $"total {clock.Elapsed.TotalSeconds:0.00} s on {engine.DeviceName}/{engine.DTypeName}; " +
            $"KV cache peak {Size(engine.PeakKvCacheBytes)}, held now {Size(engine.KvCacheBytes)} (prefix cache); weights {Size(weightBytes)}");
        return 0;
    }

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.#} MiB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.##} GiB",
    };
}
