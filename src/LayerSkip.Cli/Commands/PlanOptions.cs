using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>The --speedup/--policy/--seed/--layers options every command shares.</summary>
internal sealed record PlanOptions(double Speedup, LayerPolicy Policy, int Seed, IReadOnlyList<int>? Layers)
{
    public static PlanOptions From(CliArgs args)
    {
        var layers = args.String("layers") is null ? null : args.IntList("layers");
        var policyName = args.String("policy");
        var policy = policyName is null ? (layers is null ? LayerPolicy.Unified : LayerPolicy.Explicit) : LayerPlanner.ParsePolicy(policyName);
        return new PlanOptions(args.Double("speedup") ?? 1.0, policy, args.Int("seed") ?? 0, layers);
    }

    public Task<LayerPlan> BuildAsync(InferenceEngine engine) => engine.CreatePlanAsync(Policy, Speedup, Seed, Layers);
}
