using System.CommandLine;
using System.Text.Json;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Engine.Training;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip adapt: skip-aware fine-tuning for one plan. Prompts run every layer, responses only the plan's layers;
/// loss on response tokens; embeddings and the tied head frozen. The plan is recorded in the saved config.json.
/// </summary>
internal sealed class AdaptCommand : CliCommand
{
    private readonly Option<string> _model = SharedOptions.Model("Model folder to adapt.");
    private readonly Option<string> _out = Opt.Required("--out", "Folder to save the adapted model (and resumable training state) to.", "dir");
    private readonly Option<double> _speedup = new("--speedup") { Description = "Target speedup r of the plan to adapt for.", Required = true, HelpName = "x" };
    private readonly Option<LayerPolicy?> _policy = Opt.Policy("--policy", "Policy of the plan: unified (default), unifiedeven, earlyexit, skipbottom, random, explicit (--layers).");
    private readonly Option<int[]?> _layers = Opt.LayerList("--layers", "Explicit layers to keep, e.g. 0,3,7 (implies --policy explicit).");
    private readonly Option<int> _seqLen = Opt.Value("--seq-len", "Tokens per window of plain text (prompt included).", 128);
    private readonly Option<int> _promptTokens = Opt.Value("--prompt-tokens", "Leading tokens of each plain-text window treated as the prompt (full depth, no loss).", 16);
    private readonly Option<bool> _resume = Opt.Flag("--resume", "Continue the run saved in --out.");
    private readonly Option<string> _dtype = TrainingOptionSet.TrainingDType();
    private readonly TrainingOptionSet _training;

    public AdaptCommand() : base("adapt",
        "Skip-aware fine-tuning for one plan: prompts run every layer, responses only the plan's layers; the plan is recorded in the saved config.json.")
    {
        this.AddAll(_model, _out, _speedup, _policy, _layers);
        _training = new TrainingOptionSet(this, defaultSteps: 300, defaultLr: 1e-3,
            dataDescription: "Training data: plain text, or .jsonl with one {\"prompt\": ..., \"response\": ...} object per line.");
        this.AddAll(_seqLen, _promptTokens, _resume, _dtype);
    }

    protected override Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var data = _training.DataFile(parse);
        var modelFolder = ModelFolder.Resolve(parse.GetValue(_model)!);
        var outFolder = parse.GetValue(_out)!;
        var speedup = parse.GetValue(_speedup);
        var explicitLayers = parse.GetLayers(_layers);
        var policy = parse.GetValue(_policy) ?? (explicitLayers is null ? LayerPolicy.Unified : LayerPolicy.Explicit);
        var resume = parse.GetValue(_resume);
        var options = _training.Read(parse);
        var dtype = TrainingOptionSet.ParseDType(parse.GetValue(_dtype)!);
        if (policy == LayerPolicy.Calibrated) throw new CliException("adapt needs a fixed plan: use --policy explicit --layers ... with the calibrated layers.");
        if (policy == LayerPolicy.Router) throw new CliException("adapt needs a fixed plan: routers decide per token (train them with train-router).");

        var tokenizer = TextTokenizer.Load(modelFolder);
        using var model = TrainableModel.Load(resume ? outFolder : modelFolder, dtype);
        var plan = LayerPlanner.Create(policy, speedup, model.Config.NumLayers, options.Seed, explicitLayers);
        progress.Log.WriteLine($"adapting {modelFolder} for {policy.ToString().ToLowerInvariant()} r={speedup}: layers [{string.Join(",", plan.KeptLayers)}] of {plan.LayerCount}");

        IAdaptationData examples = data.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? new PairAdaptationData(ReadPairs(tokenizer, data))
            : new TextAdaptationData(TrainingOptionSet.Tokenize(tokenizer, data), parse.GetValue(_seqLen) + 1, parse.GetValue(_promptTokens));
        TrainingResult result;
        using (var task = progress.Start("adapt", options.Steps, "steps"))
            result = SkipAwareAdaptation.Run(model, examples, plan, options, outFolder, modelFolder, resume, progress.Log, task);
        Console.WriteLine($"saved {outFolder} at step {result.Step}, adapted for layers [{string.Join(",", plan.KeptLayers)}], last loss {result.LossHistory.LastOrDefault():0.0000}");
        return Task.FromResult(0);
    }

    /// <summary>One {"prompt": ..., "response": ...} object per line: prompt with BOS, response followed by EOS.</summary>
    private static List<PromptResponse> ReadPairs(TextTokenizer tokenizer, string file)
    {
        var pairs = new List<PromptResponse>();
        foreach (var (line, n) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var prompt = tokenizer.Encode(doc.RootElement.GetProperty("prompt").GetString() ?? "", addBos: true).ToArray();
                var response = tokenizer.Encode(doc.RootElement.GetProperty("response").GetString() ?? "", addBos: false).ToList();
                if (tokenizer.EosTokenId is int eos) response.Add(eos);
                pairs.Add(new PromptResponse(prompt, response.ToArray()));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new CliException($"{file}:{n}: expected a JSON object with string fields \"prompt\" and \"response\" ({e.Message}).");
            }
        }
        return pairs;
    }
}
