using System.CommandLine;
using System.Globalization;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Evaluation;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip perplexity: nats per token of a text file, at full depth or under a layer plan.</summary>
internal sealed class PerplexityCommand : CliCommand
{
    private readonly ModelOptions _model;
    private readonly PlanOptions _plan;
    private readonly Option<string> _file = Opt.ExistingFile("--file", "Text file to score.");
    private readonly TextWindowOptions _windows;

    public PerplexityCommand() : base("perplexity", "Perplexity of a text file at full depth or under one layer plan; the last stdout line is 'nats_per_token=X tokens=N'.")
    {
        this.AddAll(_file);
        _windows = new TextWindowOptions(this);
        _plan = new PlanOptions(this);
        _model = new ModelOptions(this);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        using var engine = _model.Load(parse, progress);
        var plan = await _plan.BuildAsync(parse, engine);
        var windows = _windows.Build(parse, engine, File.ReadAllText(parse.GetValue(_file)!));
        var contextTokens = parse.GetValue(_windows.ContextTokens);
        double nats;
        int tokens;
        using (var task = progress.Start("score", windows.Count, "windows"))
            (nats, tokens) = await engine.RunAsync(model =>
            {
                var n = QualityReport.NatsPerToken(model, windows, plan, contextTokens, out var count, task);
                return (n, count);
            });
        progress.Log.WriteLine($"[{ModelOptions.Describe(plan)}] {windows.Count} windows, perplexity {Math.Exp(nats):0.000}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"nats_per_token={nats:0.0000} tokens={tokens}"));
        return 0;
    }
}
