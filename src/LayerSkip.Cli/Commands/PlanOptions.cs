using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>The --speedup/--policy/--seed/--layers options every command shares, read into the engine's <see cref="LayerSkipRequest"/>.</summary>
internal sealed record PlanOptions(LayerSkipRequest Request)
{
    public static PlanOptions From(CliArgs args)
    {
        var layers = args.String("layers") is null ? null : args.IntList("layers");
        var policy = args.String("policy");
        var speedup = args.Double("speedup");
        try
        {
            return new PlanOptions(new LayerSkipRequest
            {
                SpeedupRatio = speedup,
                Policy = policy is null ? null : LayerPlanner.ParsePolicy(policy),
                Layers = layers,
                Seed = args.Int("seed"),
            });
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>The plan on <paramref name="engine"/>; with no --speedup, --policy or --layers, an adapted model's own plan.</summary>
    public Task<LayerPlan> BuildAsync(InferenceEngine engine) => engine.CreatePlanAsync(Request);
}
