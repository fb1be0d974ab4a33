using LayerSkip.Engine.Generation;

namespace LayerSkip.Cli.Commands;

/// <summary>Loads the engine from the --model/--device/--dtype/--max-seq-len options.</summary>
internal static class EngineFactory
{
    public static InferenceEngine Load(CliArgs args, int maxBatchSize = 16)
    {
        var model = args.Required("model");
        var engine = InferenceEngine.Load(new EngineOptions
        {
            ModelPath = model,
            Device = args.String("device") ?? "auto",
            ComputeDType = args.String("dtype"),
            MaxSequenceLength = args.Int("max-seq-len"),
            MaxBatchSize = maxBatchSize,
            Threads = args.Int("threads"),
            RouterPath = args.String("router"),
            Quantization = args.String("quantize"),
            GroupSize = args.Int("group-size"),
        });
        var calibration = args.String("calibration-file");
        if (calibration is not null) engine.Plans.CalibrationTextOverride = File.ReadAllText(calibration);
        return engine;
    }

    public static string Describe(LayerSkip.Engine.Skipping.LayerPlan plan) =>
        plan.IsFullDepth ? $"full depth ({plan.LayerCount} layers)"
            : $"{plan.Policy.ToString().ToLowerInvariant()} r={plan.TargetSpeedup:0.##}: {plan.KeptLayers.Count}/{plan.LayerCount} layers [{string.Join(",", plan.KeptLayers)}]";
}
