using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Generation.Sampling;
using LayerSkip.Engine.Model;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench-sampling: the time the engine's sampler takes to choose one token per row from logits of a
/// shape's vocabulary, for greedy, temperature, top-k, top-p, both, and penalties, at each batch size; with the
/// libtorch-ops path beside the default one. <c>bench --sample</c> measures the same choice inside whole decode steps.
/// </summary>
internal sealed class SamplingBenchCommand : CliCommand
{
    private readonly Option<string> _shape = Opt.OneOf("--shape", "Model shape whose vocabulary to sample from.", "llama-1b", ModelShapes.Names.ToArray());
    private readonly Option<int[]> _batches = Opt.Ints("--batch", "Batch sizes (rows chosen per step).", 1, 16);
    private readonly Option<double> _logitStd = Opt.Value("--logit-std", "Standard deviation of the random logits (their spread sets how wide a nucleus is).", 2.0);
    private readonly Option<double> _seconds = Opt.Value("--seconds", "Time spent per setting, batch size and path.", 0.5);
    private readonly Option<int?> _threads = SharedOptions.Threads();

    private static readonly (string Name, SamplingOptions Options)[] Settings =
    [
        ("greedy", SamplingOptions.Greedy),
        ("temperature=0.8", new() { Temperature = 0.8 }),
        ("top-k=40", new() { Temperature = 0.8, TopK = 40 }),
        ("top-p=0.95", new() { Temperature = 0.8, TopP = 0.95 }),
        ("top-k=40,top-p=0.95", new() { Temperature = 0.8, TopK = 40, TopP = 0.95 }),
        ("top-k=40,top-p=0.95,penalties", new() { Temperature = 0.8, TopK = 40, TopP = 0.95, FrequencyPenalty = 0.5, PresencePenalty = 0.3 }),
    ];

    public SamplingBenchCommand() : base("bench-sampling",
        "Time to choose one token per row from random logits of a shape's vocabulary, per sampling setting and batch size, in place on the CPU and with libtorch ops.") =>
        this.AddAll(_shape, _batches, _logitStd, _seconds, _threads);

    protected override Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        if (parse.GetValue(_threads) is { } threads) set_num_threads(threads);
        var vocab = ModelShapes.Get(parse.GetValue(_shape)!).VocabSize;
        var seconds = parse.GetValue(_seconds);
        Console.Error.WriteLine($"vocabulary {vocab}, logits ~ N(0, {parse.GetValue(_logitStd)}²), {get_num_threads()} libtorch threads");
        Console.WriteLine("| setting | batch | path | ms per step, median (min–max) | µs per row | CPU ms per step |");
        Console.WriteLine("|---|---:|---|---:|---:|---:|");
        foreach (var batch in parse.GetValue(_batches)!)
        {
            using var logits = randn([batch, vocab], ScalarType.Float32, generator: new Generator(11)).mul_(parse.GetValue(_logitStd));
            foreach (var (name, options) in Settings)
                foreach (var tensorOps in new[] { false, true })
                {
                    cancellation.ThrowIfCancellationRequested();
                    var sampler = new LogitsSampler { TensorOps = tensorOps };
                    var step = 0;
                    var (spread, cpu) = Time(() =>
                    {
                        // Fresh sequences each step with a 64-token history, so penalties cost the same every time.
                        var rows = Enumerable.Range(0, batch).Select(r => History(new TokenSampler(options with { Seed = step * batch + r }), vocab)).ToList();
                        step++;
                        sampler.Choose(logits, rows);
                    }, seconds);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {name} | {batch} | {(tensorOps ? "libtorch ops" : "in place")} | {spread.Median:0.000} ({spread.Min:0.000}–{spread.Max:0.000}) | {spread.Median * 1000 / batch:0} | {cpu:0.000} |"));
                }
        }
        return Task.FromResult(0);
    }

    private static TokenSampler History(TokenSampler sampler, int vocab)
    {
        if (sampler.HasPenalties)
            for (var t = 0; t < 64; t++) sampler.Record(t * 7919 % vocab);
        return sampler;
    }

    /// <summary>
    /// Milliseconds per call: median and spread of five rounds filling about <paramref name="seconds"/>, and the
    /// process's CPU time per call over all rounds (what the work costs when other processes share the cores).
    /// </summary>
    private static (Spread Wall, double CpuMs) Time(Action call, double seconds)
    {
        for (var w = 0; w < 3; w++) call();
        var probe = Stopwatch.StartNew();
        call();
        var perRound = Math.Max(1, (int)(seconds / 5 / Math.Max(probe.Elapsed.TotalSeconds, 1e-6)));
        var rounds = new List<double>();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        for (var r = 0; r < 5; r++)
        {
            var clock = Stopwatch.StartNew();
            for (var n = 0; n < perRound; n++) call();
            rounds.Add(clock.Elapsed.TotalMilliseconds / perRound);
        }
        var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / (5.0 * perRound);
        return (Spread.Of(rounds), cpuMs);
    }
}
