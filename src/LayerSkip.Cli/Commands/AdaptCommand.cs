using System.Text.Json;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Engine.Training;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip adapt: skip-aware fine-tuning for one plan. Prompts run every layer, responses only the plan's layers;
/// loss on response tokens; embeddings and the tied head frozen. The plan is recorded in the saved config.json.
/// </summary>
internal static class AdaptCommand
{
    public static int Run(CliArgs args)
    {
        var data = TrainingArgs.DataFile(args);
        var modelFolder = ModelFolder.Resolve(args.Required("model"));
        var outFolder = args.Required("out");
        var speedup = args.Double("speedup") ?? throw new CliException("--speedup is required.");
        var explicitLayers = args.String("layers") is null ? null : args.IntList("layers");
        var policy = LayerPlanner.ParsePolicy(args.String("policy") ?? (explicitLayers is null ? "unified" : "explicit"));
        var seqLen = args.Int("seq-len") ?? 128;
        var promptTokens = args.Int("prompt-tokens") ?? 16;
        var resume = args.Flag("resume");
        var options = TrainingArgs.Options(args, defaultSteps: 300, defaultLr: 1e-3);
        var dtype = TrainingArgs.DType(args);
        args.EnsureAllUsed();
        if (policy == LayerPolicy.Calibrated) throw new CliException("adapt needs a fixed plan: use --policy explicit --layers ... with the calibrated layers.");

        var tokenizer = TextTokenizer.Load(modelFolder);
        using var model = TrainableModel.Load(resume ? outFolder : modelFolder, dtype);
        var plan = LayerPlanner.Create(policy, speedup, model.Config.NumLayers, options.Seed, explicitLayers);
        Console.Error.WriteLine($"adapting {modelFolder} for {policy.ToString().ToLowerInvariant()} r={speedup}: layers [{string.Join(",", plan.KeptLayers)}] of {plan.LayerCount}");

        IAdaptationData examples = data.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? new PairAdaptationData(ReadPairs(tokenizer, data))
            : new TextAdaptationData(TrainingArgs.Tokenize(tokenizer, data), seqLen + 1, promptTokens);
        var result = SkipAwareAdaptation.Run(model, examples, plan, options, outFolder, modelFolder, resume, Console.Error);
        Console.WriteLine($"saved {outFolder} at step {result.Step}, adapted for layers [{string.Join(",", plan.KeptLayers)}], last loss {result.LossHistory.LastOrDefault():0.0000}");
        return 0;
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
