using System.Diagnostics;
using System.Globalization;
using System.CommandLine;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Output;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench: decode throughput of a random-weight model of a named shape, for each batch size, policy and
/// ratio, with the speedup over full depth measured in the same run. Timings exclude prefill; each
/// configuration decodes after a warm-up step, and reports the median of its rounds with the slowest and fastest
/// round beside it. <c>bench-chat</c> (<see cref="ChatBenchCommand"/>) times whole requests through the chat client.
/// </summary>
internal sealed class BenchCommand : CliCommand
{
    public sealed record Row(
        string shape, string dtype, int batch, string policy, double target, int kept_layers,
        double prefill_ms, double decode_tokens_per_s, double decode_min, double decode_max, int rounds,
        double speedup, double achieved_ratio, double ideal_speedup, long kv_bytes);

    private readonly Option<string> _shape = Opt.OneOf("--shape", "Model shape to build with random weights.", "llama-1b", ModelShapes.Names.ToArray());
    private readonly Option<string> _dtype = Opt.OneOf("--dtype", "Weight and compute dtype.", "bfloat16", "float32", "bfloat16", "float16", "f32", "bf16");
    private readonly Option<int[]> _batches = Opt.Ints("--batch", "Batch sizes.", 1, 16);
    private readonly Option<double[]> _speedups = Opt.Doubles("--speedup", "Target speedups (1 is the full-depth baseline, always measured).", 1, 2, 3, 4);
    private readonly Option<LayerPolicy[]> _policies = Opt.Policies("--policy", "Policies to measure: " + SharedOptions.PolicyList + ".", LayerPolicy.Unified, LayerPolicy.EarlyExit);
    private readonly Option<int> _tokens = Opt.Value("--tokens", "Decode steps timed per run (after one warm-up step).", 16);
    private readonly Option<int> _promptTokens = Opt.Value("--prompt-tokens", "Prompt length prefilled at full depth before decoding.", 32);
    private readonly Option<int> _repeats = Opt.Value("--repeats", "Rounds over all plans; each plan reports its median round and the min–max.", 3);
    private readonly Option<string> _device = Opt.Value("--device", "cpu, cuda or cuda:N.", "cpu", "device");
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly Option<string?> _json = SharedOptions.Json();

    public BenchCommand() : base("bench",
        "Decode throughput of a random-weight model of a named shape for each batch size, policy and speedup, with the speedup over full depth measured in the same run.") =>
        this.AddAll(_shape, _dtype, _batches, _speedups, _policies, _tokens, _promptTokens, _repeats, _device, _threads, _json);

    protected override async Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var shapeName = parse.GetValue(_shape)!;
        var dtypeName = parse.GetValue(_dtype)!;
        var batches = parse.GetValue(_batches)!;
        var speedups = parse.GetValue(_speedups)!;
        var policies = parse.GetValue(_policies)!;
        var steps = parse.GetValue(_tokens);
        var promptLength = parse.GetValue(_promptTokens);
        var repeats = Math.Max(1, parse.GetValue(_repeats));
        var device = ComputeDevice.Resolve(parse.GetValue(_device)!);
        if (batches.Length == 0) throw new CliException("--batch needs at least one batch size.");
        using var json = new JsonLinesFile(parse.GetValue(_json));
        var log = progress.Log;

        WarnIfBusy(log);
        var config = ModelShapes.Get(shapeName);
        var dtype = ComputeDevice.ResolveDType(dtypeName, device);
        var maxLen = promptLength + steps + 2;
        InferenceEngine engine;
        using (progress.Start($"build {shapeName}"))
            engine = InferenceEngine.FromModel(
                () => new DecoderModel(config, RandomWeights.Create(config, dtype, device), dtype, device, maxLen),
                maxBatchSize: batches.Max(), threads: parse.GetValue(_threads));
        using var _ = engine;
        log.WriteLine($"random {shapeName}: {config.NumLayers} layers, hidden {config.HiddenSize}, {dtypeName} on {device}");

        var weights = engine.Model.Weights;
        double layerBytes = weights.LayerBytes, headBytes = weights.HeadBytes;
        var bandwidth = await engine.RunAsync(_ => MeasureCopyBandwidth(device));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"weights: {layerBytes / 1e9:0.000} GB in layers + {headBytes / 1e9:0.000} GB head; copy bandwidth {bandwidth / 1e9:0.0} GB/s; " +
            $"full-depth bound {bandwidth / (layerBytes + headBytes):0.00} tokens/s at batch 1"));

        var rows = new List<Row>();
        var plansPerBatch = 1 + speedups.Count(r => r > 1) * policies.Length;
        using (var task = progress.Start("bench", (long)batches.Length * repeats * plansPerBatch, "runs"))
            foreach (var batch in batches)
            {
                var plans = new List<LayerPlan> { LayerPlan.Full(config.NumLayers) };
                foreach (var r in speedups.Where(r => r > 1))
                    foreach (var p in policies)
                        plans.Add(await engine.CreatePlanAsync(p, r, cancellationToken: cancellation));
                var (prefillMs, prompt) = await engine.RunAsync(model => Prefill(model, batch, promptLength, steps));
                // Rounds visit every plan in turn, so slow drift or a busy neighbour hits all plans alike; each plan
                // reports its median round and the spread, never only its best.
                var rates = plans.Select(_ => new List<double>()).ToArray();
                var kvBytes = new long[plans.Count];
                for (var round = 0; round < repeats; round++)
                    for (var i = 0; i < plans.Count; i++)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        var (rate, kv) = await engine.RunAsync(model => Decode(model, prompt, plans[i], steps));
                        rates[i].Add(rate);
                        kvBytes[i] = kv;
                        task.Advance(detail: string.Create(CultureInfo.InvariantCulture, $"batch {batch} round {round + 1}/{repeats}"));
                    }
                await engine.RunAsync(_ => { prompt.Cache.Dispose(); prompt.NextTokens.Dispose(); return 0; });
                var median = rates.Select(Spread.Of).ToArray();
                for (var i = 0; i < plans.Count; i++)
                {
                    var plan = plans[i];
                    var speedup = median[i].Median / median[0].Median;
                    var ideal = (layerBytes + headBytes) / (layerBytes * plan.KeptLayers.Count / plan.LayerCount + headBytes);
                    var row = new Row(shapeName, ComputeDevice.Name(dtype), batch, plan.IsFullDepth ? "full" : plan.Policy.ToString().ToLowerInvariant(),
                        plan.TargetSpeedup, plan.KeptLayers.Count, Math.Round(prefillMs, 1), Math.Round(median[i].Median, 2),
                        Math.Round(median[i].Min, 2), Math.Round(median[i].Max, 2), repeats, Math.Round(speedup, 3),
                        Math.Round(speedup / plan.TargetSpeedup, 3), Math.Round(ideal, 3), kvBytes[i]);
                    rows.Add(row);
                    json.Write(row);
                    log.WriteLine(Format(row));
                }
            }

        Console.WriteLine();
        Console.WriteLine($"| shape | dtype | batch | policy | target r | kept | prefill ms | decode tok/s, median of {repeats} (min–max) | speedup (medians) | speedup/target | ideal (head incl.) | KV MiB |");
        Console.WriteLine("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows) Console.WriteLine(Format(r));
        var full1 = rows.FirstOrDefault(r => r.batch == 1 && r.policy == "full");
        if (full1 is not null)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"\nbatch-1 full depth: {full1.decode_tokens_per_s:0.00} tokens/s = {full1.decode_tokens_per_s / (bandwidth / (layerBytes + headBytes)):P0} of the memory-bandwidth bound " +
                $"({bandwidth / 1e9:0.0} GB/s ÷ {(layerBytes + headBytes) / 1e9:0.000} GB of weights per token)"));
        return 0;
    }

    /// <summary>libtorch's OpenMP threads slow down many-fold when other processes hold the cores: say so up front.</summary>
    private static void WarnIfBusy(TextWriter log)
    {
        try
        {
            var load = double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
            if (load > Environment.ProcessorCount * 0.5)
                log.WriteLine($"warning: load average {load:0.0} on {Environment.ProcessorCount} cores; timings will be distorted by other processes.");
        }
        catch (IOException) { }
    }

    private static string Format(Row r) => string.Create(CultureInfo.InvariantCulture,
        $"| {r.shape} | {r.dtype} | {r.batch} | {r.policy} | {r.target:0.##} | {r.kept_layers} | {r.prefill_ms:0} | {r.decode_tokens_per_s:0.00} ({r.decode_min:0.00}–{r.decode_max:0.00}) | {r.speedup:0.00}x | {r.achieved_ratio:0.00} | {r.ideal_speedup:0.00}x | {r.kv_bytes / 1048576.0:0.00} |");

    /// <summary>A batch prefilled at full depth once, copied for every measurement.</summary>
    private sealed record Prefilled(KvCache Cache, Tensor NextTokens);

    private static (double Milliseconds, Prefilled Prompt) Prefill(DecoderModel model, int batch, int promptLength, int steps)
    {
        var rng = new Random(42);
        var clock = Stopwatch.StartNew();
        var cache = model.CreateCache(batch, promptLength + steps + 2);
        var ids = Enumerable.Range(0, batch * promptLength).Select(_ => (long)rng.Next(model.Config.VocabSize)).ToArray();
        var logits = model.Forward(tensor(ids, [batch, promptLength], device: model.Device), cache);
        var next = logits.argmax(-1).DetachFromDisposeScope();
        if (model.Device.type == TorchSharp.DeviceType.CUDA) next.cpu().Dispose(); // wait for the device
        return (clock.Elapsed.TotalMilliseconds, new Prefilled(cache, next));
    }

    /// <summary>Greedy decode steps over a copy of the prefilled cache that keeps only the plan's layers.</summary>
    private static (double TokensPerSecond, long KvBytes) Decode(DecoderModel model, Prefilled prompt, LayerPlan plan, int steps)
    {
        using var cache = prompt.Cache.Clone(plan.IsFullDepth ? null : plan);
        var kvBytes = cache.Bytes;
        var run = plan.IsFullDepth ? null : plan;
        var batch = cache.Batch;

        Tensor Step(Tensor input)
        {
            using var scope = NewDisposeScope();
            var logits = model.Forward(input, cache, run);
            var chosen = logits.argmax(-1).DetachFromDisposeScope(); // [batch, 1]
            if (model.Device.type == TorchSharp.DeviceType.CUDA) chosen.cpu().Dispose(); // wait for the device
            return chosen;
        }

        var token = Step(prompt.NextTokens); // warm-up
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++)
        {
            var n = Step(token);
            token.Dispose();
            token = n;
        }
        var seconds = clock.Elapsed.TotalSeconds;
        token.Dispose();
        return (batch * steps / seconds, kvBytes);
    }

    /// <summary>Bytes moved per second by a large device copy (read + write), the bound on weight streaming.</summary>
    private static double MeasureCopyBandwidth(Device device)
    {
        const long elements = 64L * 1024 * 1024; // 256 MB of float32
        using var src = ones(elements, ScalarType.Float32, device);
        using var dst = empty(elements, ScalarType.Float32, device);
        dst.copy_(src);
        var best = double.MaxValue;
        for (var i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            dst.copy_(src);
            if (device.type == TorchSharp.DeviceType.CUDA) dst[0].item<float>();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return 2.0 * elements * 4 / best;
    }
}
