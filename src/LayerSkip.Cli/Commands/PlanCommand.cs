using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip plan: prints the layers a policy keeps; the last line is "kept: i j k".</summary>
internal static class PlanCommand
{
    public static int Run(CliArgs args)
    {
        var layers = args.Int("layers") ?? throw new CliException("--layers (the model's layer count) is required.");
        var speedup = args.Double("speedup") ?? 1.0;
        var policy = LayerPlanner.ParsePolicy(args.String("policy") ?? "unified");
        var seed = args.Int("seed") ?? 0;
        var explicitLayers = args.String("explicit") is null ? null : args.IntList("explicit");
        args.EnsureAllUsed();
        if (policy == LayerPolicy.Calibrated)
            throw new CliException("The calibrated policy ranks a real model's layers: use 'layerskip generate/perplexity --policy calibrated --model DIR'.");
        var plan = LayerPlanner.Create(policy, speedup, layers, seed, explicitLayers);
        Console.WriteLine($"policy: {plan.Policy.ToString().ToLowerInvariant()}");
        Console.WriteLine($"target speedup: {plan.TargetSpeedup:0.###} (keeps {plan.KeptLayers.Count} of {plan.LayerCount} layers)");
        Console.WriteLine($"kept: {string.Join(' ', plan.KeptLayers)}");
        return 0;
    }
}
