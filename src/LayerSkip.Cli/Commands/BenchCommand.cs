using System.Diagnostics;
using System.Globalization;
using System.CommandLine;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Output;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Generation.Sampling;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench: decode throughput of a random-weight model of a named shape, for each batch size, policy and
/// ratio, with the speedup over full depth measured in the same run. Timings exclude prefill; each
/// configuration decodes after a warm-up step, and reports the median of its rounds with the slowest and fastest
/// round beside it. With --sample, every plan is also decoded with the engine's device sampler (as a client with
/// sampling options gets it), interleaved with the greedy rounds. <c>bench-chat</c> (<see cref="ChatBenchCommand"/>)
/// times whole requests through the chat client.
/// </summary>
internal sealed class BenchCommand : CliCommand
{
    public sealed record Row(
        string shape, string dtype, int batch, string policy, double target, int kept_layers,
        double prefill_ms, double decode_tokens_per_s, double decode_min, double decode_max, int rounds,
        double speedup, double achieved_ratio, double ideal_speedup, long kv_bytes, string sampling, double choose_ms,
        long weight_bytes, long rss_load_bytes, long rss_bytes, long rss_peak_bytes);

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
    private readonly Option<string> _quantize = SharedOptions.Quantize();
    private readonly Option<int?> _groupSize = SharedOptions.GroupSize();
    private readonly Option<string?> _quantizeHead = SharedOptions.QuantizeHead();
    private readonly Option<string?> _json = SharedOptions.Json();
    private readonly Option<string?> _sample = Opt.Text("--sample",
        "Also decode every plan with sampling, interleaved with greedy: e.g. temperature=0.8,top-k=40,top-p=0.95 " +
        "(also frequency-penalty, presence-penalty, seed).", "settings");

    public BenchCommand() : base("bench",
        "Decode throughput of a random-weight model of a named shape for each batch size, policy and speedup, with the speedup over full depth measured in the same run.") =>
        this.AddAll(_shape, _dtype, _batches, _speedups, _policies, _tokens, _promptTokens, _repeats, _device, _threads, _quantize, _groupSize, _quantizeHead, _json, _sample);

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
        var quantization = WeightQuantization.Parse(parse.GetValue(_quantize), parse.GetValue(_groupSize), "--quantize")
            .WithHead(parse.GetValue(_quantizeHead), "--quantize-head");
        if (batches.Length == 0) throw new CliException("--batch needs at least one batch size.");
        var sampled = parse.GetValue(_sample) is { } spec ? SamplingSpec.Parse("sample", spec) : null;
        SamplingOptions?[] modes = sampled is null ? [null] : [null, sampled];
        using var json = new JsonLinesFile(parse.GetValue(_json));
        var log = progress.Log;

        WarnIfBusy(log);
        var config = ModelShapes.Get(shapeName);
        var dtype = ComputeDevice.ResolveDType(dtypeName, device);
        var maxLen = promptLength + steps + 2;
        InferenceEngine engine;
        using (progress.Start($"build {shapeName}"))
            engine = InferenceEngine.FromModel(
                () => new DecoderModel(config, RandomWeights.Create(config, dtype, device), dtype, device, maxLen, quantization),
                maxBatchSize: batches.Max(), threads: parse.GetValue(_threads));
        using var _ = engine;
        log.WriteLine($"random {shapeName}: {config.NumLayers} layers, hidden {config.HiddenSize}, {dtypeName} on {device}, quantization {quantization}");
        var weightBytes = await engine.RunAsync(m => m.WeightBytes);
        var rssLoad = ProcessMemory.Resident();
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"weights held: {weightBytes / 1048576.0:0} MiB; process resident after load: {rssLoad / 1048576.0:0} MiB (peak so far {ProcessMemory.Peak() / 1048576.0:0} MiB)"));

        // The bytes a decode step streams: the projections in their decode format, plus the layers' norms.
        var model = engine.Model;
        var normBytes = model.Weights.Layers.Sum(l => l.InputNorm.NumberOfElements * l.InputNorm.ElementSize * 2);
        double layerBytes = model.StreamedLayerBytes + normBytes, headBytes = model.StreamedHeadBytes;
        // On the CPU the bound is the read bandwidth our kernels see (weights are only read); elsewhere a device copy.
        var bandwidth = await engine.RunAsync(_ => device.type == TorchSharp.DeviceType.CPU
            ? LayerSkip.Engine.Model.Kernels.ReadBandwidth.Measure(get_num_threads())
            : MeasureCopyBandwidth(device));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"weights: {layerBytes / 1e9:0.000} GB in layers + {headBytes / 1e9:0.000} GB head; memory bandwidth {bandwidth / 1e9:0.0} GB/s; " +
            $"full-depth bound {bandwidth / (layerBytes + headBytes):0.00} tokens/s at batch 1"));

        var rows = new List<Row>();
        var plansPerBatch = 1 + speedups.Count(r => r > 1) * policies.Length;
        using (var task = progress.Start("bench", (long)batches.Length * repeats * plansPerBatch * modes.Length, "runs"))
            foreach (var batch in batches)
            {
                var plans = new List<LayerPlan> { LayerPlan.Full(config.NumLayers) };
                foreach (var r in speedups.Where(r => r > 1))
                    foreach (var p in policies)
                        plans.Add(await engine.CreatePlanAsync(p, r, cancellationToken: cancellation));
                var (prefillMs, prompt) = await engine.RunAsync(model => Prefill(model, batch, promptLength, steps));
                // Rounds visit every plan (and sampling mode) in turn, so slow drift or a busy neighbour hits all alike;
                // each reports its median round and the spread, never only its best.
                var rates = new List<double>[plans.Count, modes.Length];
                var chooseMs = new List<double>[plans.Count, modes.Length];
                var kvBytes = new long[plans.Count];
                for (var round = 0; round < repeats; round++)
                    for (var i = 0; i < plans.Count; i++)
                        for (var m = 0; m < modes.Length; m++)
                        {
                            cancellation.ThrowIfCancellationRequested();
                            var (rate, kv, choose) = await engine.RunAsync(model => Decode(model, prompt, plans[i], steps, modes[m]));
                            (rates[i, m] ??= []).Add(rate);
                            (chooseMs[i, m] ??= []).Add(choose);
                            kvBytes[i] = kv;
                            task.Advance(detail: string.Create(CultureInfo.InvariantCulture, $"batch {batch} round {round + 1}/{repeats}"));
                        }
                await engine.RunAsync(_ => { prompt.Cache.Dispose(); prompt.NextTokens.Dispose(); return 0; });
                for (var m = 0; m < modes.Length; m++)
                    for (var i = 0; i < plans.Count; i++)
                    {
                        var plan = plans[i];
                        var spread = Spread.Of(rates[i, m]);
                        var speedup = spread.Median / Spread.Of(rates[0, m]).Median;
                        var ideal = (layerBytes + headBytes) / (layerBytes * plan.KeptLayers.Count / plan.LayerCount + headBytes);
                        var row = new Row(shapeName, quantization.Format == WeightFormat.None ? ComputeDevice.Name(dtype) : quantization.ToString(), batch,
                            plan.IsFullDepth ? "full" : plan.Policy.ToString().ToLowerInvariant(),
                            plan.TargetSpeedup, plan.KeptLayers.Count, Math.Round(prefillMs, 1), Math.Round(spread.Median, 2),
                            Math.Round(spread.Min, 2), Math.Round(spread.Max, 2), repeats, Math.Round(speedup, 3),
                            Math.Round(speedup / plan.TargetSpeedup, 3), Math.Round(ideal, 3), kvBytes[i],
                            modes[m] is { } o ? SamplingSpec.Format(o) : "greedy", Math.Round(Spread.Of(chooseMs[i, m]).Median, 3),
                            weightBytes, rssLoad, ProcessMemory.Resident(), ProcessMemory.Peak());
                        rows.Add(row);
                        json.Write(row);
                        log.WriteLine(Format(row));
                    }
                if (sampled is not null)
                    for (var i = 0; i < plans.Count; i++)
                        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"batch {batch}, {(plans[i].IsFullDepth ? "full" : $"{plans[i].Policy} r={plans[i].TargetSpeedup:0.##}")}: sampled / greedy = {Spread.Of(rates[i, 1]).Median / Spread.Of(rates[i, 0]).Median:0.000} (medians), " +
                            $"choosing a token {Spread.Of(chooseMs[i, 1]).Median:0.00} ms vs {Spread.Of(chooseMs[i, 0]).Median:0.00} ms per step"));
            }

        Console.WriteLine();
        Console.WriteLine($"| shape | dtype | batch | policy | target r | kept | prefill ms | decode tok/s, median of {repeats} (min–max) | speedup (medians) | speedup/target | ideal (head incl.) | KV MiB | sampling | choose ms/step | weights MiB | RSS MiB (load / now / peak) |");
        Console.WriteLine("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|");
        foreach (var r in rows) Console.WriteLine(Format(r));
        var full1 = rows.FirstOrDefault(r => r.batch == 1 && r.policy == "full" && r.sampling == "greedy");
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
        $"| {r.shape} | {r.dtype} | {r.batch} | {r.policy} | {r.target:0.##} | {r.kept_layers} | {r.prefill_ms:0} | {r.decode_tokens_per_s:0.00} ({r.decode_min:0.00}–{r.decode_max:0.00}) | {r.speedup:0.00}x | {r.achieved_ratio:0.00} | {r.ideal_speedup:0.00}x | {r.kv_bytes / 1048576.0:0.00} | {r.sampling} | {r.choose_ms:0.00} | {r.weight_bytes / 1048576.0:0} | {r.rss_load_bytes / 1048576.0:0} / {r.rss_bytes / 1048576.0:0} / {r.rss_peak_bytes / 1048576.0:0} |");

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

    /// <summary>
    /// Decode steps over a copy of the prefilled cache that keeps only the plan's layers: greedy (an arg-max on the
    /// device) or sampled by the engine's sampler, one seeded sequence per row. Also returns the median time per
    /// step spent choosing tokens (on a GPU it includes waiting for the step).
    /// </summary>
    private static (double TokensPerSecond, long KvBytes, double ChooseMs) Decode(DecoderModel model, Prefilled prompt, LayerPlan plan, int steps, SamplingOptions? sampling)
    {
        using var cache = prompt.Cache.Clone(plan.IsFullDepth ? null : plan);
        var kvBytes = cache.Bytes;
        var run = plan.IsFullDepth ? null : plan;
        var batch = cache.Batch;
        var cuda = model.Device.type == TorchSharp.DeviceType.CUDA;
        var samplers = sampling is null ? null : Enumerable.Range(0, batch).Select(r => new TokenSampler(sampling with { Seed = sampling.Seed ?? r })).ToList();
        var chooser = new LogitsSampler(model.Config.VocabSize);
        var choosing = new List<double>();

        Tensor Step(Tensor input)
        {
            using var scope = NewDisposeScope();
            var logits = model.Forward(input, cache, run);
            var clock = Stopwatch.StartNew();
            Tensor chosen;
            if (samplers is null)
            {
                chosen = logits.argmax(-1); // [batch, 1]
                if (cuda) chosen.cpu().Dispose(); // wait for the device
            }
            else
            {
                var ids = chooser.Choose(logits.reshape(batch, -1), samplers);
                chosen = tensor(ids.Select(id => (long)id).ToArray(), [batch, 1], ScalarType.Int64, model.Device);
            }
            choosing.Add(clock.Elapsed.TotalMilliseconds);
            return chosen.DetachFromDisposeScope();
        }

        var token = Step(prompt.NextTokens); // warm-up
        choosing.Clear();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++)
        {
            var n = Step(token);
            token.Dispose();
            token = n;
        }
        var seconds = clock.Elapsed.TotalSeconds;
        token.Dispose();
        return (batch * steps / seconds, kvBytes, Spread.Of(choosing).Median);
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
