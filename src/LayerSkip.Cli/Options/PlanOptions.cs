using System.CommandLine;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Options;

/// <summary>The options that choose one layer plan: --speedup, --policy, --layers, --seed.</summary>
internal sealed class PlanOptions
{
    public Option<double> Speedup { get; } = Opt.Value("--speedup", "Target speedup r: keep floor(L / r) of the model's L layers (1 = full depth).", 1.0);
    public Option<LayerPolicy?> Policy { get; } = Opt.Policy("--policy", "Which layers to keep: " + SharedOptions.PolicyList + ". Default: unified, or explicit with --layers.");
    public Option<int[]?> Layers { get; } = Opt.LayerList("--layers", "Explicit layers to keep, e.g. 0,3,7 (implies --policy explicit).");
    public Option<int?> Seed { get; } = Opt.Maybe<int>("--seed", "Random seed: of the random policy (default 0) and of sampling (default: a fresh one).");

    public PlanOptions(Command command) => command.AddAll(Speedup, Policy, Layers, Seed);

    public (double Speedup, LayerPolicy Policy, int Seed, int[]? Layers) Read(ParseResult parse)
    {
        var layers = parse.GetLayers(Layers);
        var policy = parse.GetValue(Policy) ?? (layers is null ? LayerPolicy.Unified : LayerPolicy.Explicit);
        return (parse.GetValue(Speedup), policy, parse.GetValue(Seed) ?? 0, layers);
    }

    /// <summary>The options as the engine's <see cref="LayerSkipRequest"/> (which checks them), planned on <paramref name="engine"/>.</summary>
    public Task<LayerPlan> BuildAsync(ParseResult parse, InferenceEngine engine)
    {
        var (speedup, policy, seed, layers) = Read(parse);
        LayerSkipRequest request;
        try
        {
            request = new LayerSkipRequest { SpeedupRatio = speedup, Policy = policy, Layers = layers, Seed = seed };
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }
        return engine.CreatePlanAsync(request);
    }
}
