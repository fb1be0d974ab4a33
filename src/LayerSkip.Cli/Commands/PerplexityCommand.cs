using System.Globalization;
using LayerSkip.Engine.Evaluation;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip perplexity: nats per token of a text file, at full depth or under a layer plan.</summary>
internal static class PerplexityCommand
{
    public static async Task<int> RunAsync(CliArgs args)
    {
        var file = args.Required("file");
        if (!File.Exists(file)) throw new CliException($"File not found: {file}");
        var maxTokens = args.Int("max-tokens");
        var contextTokens = args.Int("context-tokens") ?? 16;
        var windowOption = args.Int("window");
        var planOptions = PlanOptions.From(args);
        using var engine = EngineFactory.Load(args);
        args.EnsureAllUsed();

        var plan = await planOptions.BuildAsync(engine);
        var windows = TextWindows.Build(engine, File.ReadAllText(file), windowOption, maxTokens);
        var (nats, tokens) = await engine.RunAsync(model =>
            (QualityReport.NatsPerToken(model, windows, plan, contextTokens, out var n), n));
        Console.Error.WriteLine($"[{EngineFactory.Describe(plan)}] {windows.Count} windows, perplexity {Math.Exp(nats):0.000}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"nats_per_token={nats:0.0000} tokens={tokens}"));
        return 0;
    }
}
