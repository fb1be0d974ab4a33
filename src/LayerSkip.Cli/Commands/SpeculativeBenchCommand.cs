using System.Globalization;
using System.Text.Json;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench-speculative: greedy decoding through the engine's scheduler, full depth versus self-speculative
/// (the plan drafts, full depth verifies), on a real model folder or a random-weight shape. With --plant, the layers
/// the plan skips get near-zero output projections, so the draft agrees with the full model almost always: the
/// upper end of what speculation can give on that shape.
/// </summary>
internal static class SpeculativeBenchCommand
{
    public sealed record Row(string model, int batch, double target, int kept_layers, int draft_tokens, double acceptance_rate,
        double tokens_per_full_pass, double full_tokens_per_s, double speculative_tokens_per_s, double speedup, bool identical);

    public static async Task<int> RunAsync(CliArgs args)
    {
        var modelPath = args.String("model");
        var shapeName = args.String("shape");
        var plant = args.Flag("plant");
        var batches = args.IntList("batch", 1, 4);
        var speedups = args.DoubleList("speedup", 1.5, 2, 3);
        var policy = LayerPlanner.ParsePolicy(args.String("policy") ?? "unified");
        var tokens = args.Int("tokens") ?? 64;
        var draft = args.Int("draft-tokens") ?? 4;
        var json = args.String("json");
        var dtypeName = args.String("dtype");
        var threads = args.Int("threads");
        args.EnsureAllUsed();
        if ((modelPath is null) == (shapeName is null)) throw new CliException("Give either --model DIR or --shape NAME.");

        InferenceEngine engine;
        string name;
        if (modelPath is not null)
        {
            engine = InferenceEngine.Load(new EngineOptions { ModelPath = modelPath, Device = "cpu", ComputeDType = dtypeName, MaxBatchSize = batches.Max(), Threads = threads });
            name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelPath)));
        }
        else
        {
            var config = ModelShapes.Get(shapeName!);
            var dtype = ComputeDevice.ResolveDType(dtypeName ?? "float32", CPU);
            engine = InferenceEngine.FromModel(() => new DecoderModel(config, RandomWeights.Create(config, dtype, CPU, seed: 3), dtype, CPU, 64 + tokens * 2),
                maxBatchSize: batches.Max(), threads: threads);
            name = shapeName! + (plant ? " (planted)" : "");
        }
        using var _ = engine;
        var rows = new List<Row>();
        var rng = new Random(9);
        foreach (var r in speedups)
        {
            var plan = await engine.CreatePlanAsync(policy, r);
            if (plant) await engine.RunAsync(m => { Plant(m, plan); return 0; });
            foreach (var batch in batches)
            {
                var prompts = Enumerable.Range(0, batch).Select(_ => DecodeTiming.Prompt(engine, rng)).ToList();
                var full = await DecodeTiming.MeasureAsync(engine, prompts, p => new GenerationRequest { PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [] });
                var spec = await DecodeTiming.MeasureAsync(engine, prompts, p => new GenerationRequest
                {
                    PromptTokens = p, MaxNewTokens = tokens, StopTokenIds = [], Plan = plan,
                    Speculative = new SpeculativeOptions { MaxDraftTokens = draft, Adaptive = false },
                });
                var identical = full.Outputs.Zip(spec.Outputs).All(p => p.First.SequenceEqual(p.Second));
                var row = new Row(name, batch, r, plan.KeptLayers.Count, draft, Math.Round(spec.Acceptance, 3), Math.Round(spec.TokensPerPass, 2),
                    Math.Round(full.Rate, 2), Math.Round(spec.Rate, 2), Math.Round(spec.Rate / full.Rate, 3), identical);
                rows.Add(row);
                Console.Error.WriteLine(Format(row));
            }
            if (plant) break; // planting changes the weights for one plan only
        }
        Console.WriteLine();
        Console.WriteLine("| model | batch | target r | draft layers | draft tokens | acceptance | tokens per full pass | full tok/s | speculative tok/s | speedup | identical output |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var row in rows) Console.WriteLine(Format(row));
        if (json is not null) await File.WriteAllTextAsync(json, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private static string Format(Row r) => string.Create(CultureInfo.InvariantCulture,
        $"| {r.model} | {r.batch} | {r.target:0.##} | {r.kept_layers} | {r.draft_tokens} | {r.acceptance_rate:P0} | {r.tokens_per_full_pass:0.00} | {r.full_tokens_per_s:0.0} | {r.speculative_tokens_per_s:0.0} | {r.speedup:0.00}x | {(r.identical ? "yes" : "NO")} |");

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
