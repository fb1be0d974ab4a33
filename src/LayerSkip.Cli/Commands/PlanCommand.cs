using System.CommandLine;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip plan: prints the layers a policy keeps; the last line is "kept: i j k".</summary>
internal sealed class PlanCommand : CliCommand
{
    private readonly Option<int> _layers = new("--layers") { Description = "The model's layer count L.", Required = true, HelpName = "n" };
    private readonly Option<double> _speedup = Opt.Value("--speedup", "Target speedup r: keep floor(L / r) layers.", 1.0);
    private readonly Option<LayerPolicy?> _policy = Opt.Policy("--policy", "Which layers to keep: " + SharedOptions.PolicyList + ". Default: unified.");
    private readonly Option<int> _seed = SharedOptions.Seed(description: "Seed of the random policy.");
    private readonly Option<int[]?> _explicit = Opt.LayerList("--explicit", "The layers of the explicit policy, e.g. 0,5,9.");

    public PlanCommand() : base("plan", "Print the layers a policy keeps for a layer count and speedup (no model needed); the last line is 'kept: i j k'.") =>
        this.AddAll(_layers, _speedup, _policy, _seed, _explicit);

    protected override Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var policy = parse.GetValue(_policy) ?? LayerPolicy.Unified;
        if (policy == LayerPolicy.Calibrated)
            throw new CliException("The calibrated policy ranks a real model's layers: use 'layerskip generate/perplexity --policy calibrated --model DIR'.");
        var plan = LayerPlanner.Create(policy, parse.GetValue(_speedup), parse.GetValue(_layers), parse.GetValue(_seed), parse.GetLayers(_explicit));
        Console.WriteLine($"policy: {plan.Policy.ToString().ToLowerInvariant()}");
        Console.WriteLine($"target speedup: {plan.TargetSpeedup:0.###} (keeps {plan.KeptLayers.Count} of {plan.LayerCount} layers)");
        Console.WriteLine($"kept: {string.Join(' ', plan.KeptLayers)}");
        return Task.FromResult(0);
    }
}
