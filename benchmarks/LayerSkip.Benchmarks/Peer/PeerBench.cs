using System.Globalization;
using System.Text.Json;
using LayerSkip.Benchmarks.LlamaCpp;
using LayerSkip.Benchmarks.Ours;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Export.Gguf;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Model.Kernels;

namespace LayerSkip.Benchmarks.Peer;

/// <summary>
/// One measurement, or (Kind "summary") the median, min and max of one configuration's rounds. Decode rows carry the
/// weight bytes one token reads and the resulting GB/s; "read_bandwidth" rows (engine "machine") carry this machine's
/// measured read bandwidth in <see cref="gb_per_s"/> (and min/max in GB/s), the bound batch-1 decoding can reach.
/// A decode row also carries <see cref="probe_gb_per_s"/>, the bound measured right before and after it (the mean of
/// the two), and <see cref="share"/>, its GB/s over that bound; its summary gives the median share and
/// <see cref="share_min"/>–<see cref="share_max"/> over the rounds.
/// </summary>
public sealed record PeerRow(
    string kind, string engine, string weights, double r, int kept_layers, string metric, int? round,
    double tokens_per_s, double? min, double? max, int threads, int tokens, string model,
    long? bytes_per_token = null, double? gb_per_s = null,
    double? probe_gb_per_s = null, double? share = null, double? share_min = null, double? share_max = null);

/// <summary>
/// Our engine against llama.cpp on the same weights: the model folder is exported to GGUF by our writer and
/// quantized by llama.cpp's quantizer; both engines then run batch-1 greedy decode and a long prefill with the same
/// threads, prompt and token counts, in interleaved rounds (every configuration once per round, so drift and busy
/// neighbours hit all alike). Each model is loaded for its turn and released after it, so one model's memory is held at a time.
/// The machine's bandwidth drifts by 2× within minutes here, so every decode measurement is set against a probe taken
/// right before and right after it rather than against a figure from another moment.
/// </summary>
public sealed class PeerBench(PeerBenchOptions options, TextWriter log)
{
    private readonly List<PeerRow> _rows = [];

    public IReadOnlyList<PeerRow> Run()
    {
        options.Validate();
        var folder = PrepareFolder();
        var config = ModelConfig.Load(folder);
        var ggufs = options.LlamaCpp.ToDictionary(t => t, t => PrepareGguf(folder, t));
        var rng = new Random(options.Seed);
        int[] Ids(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(3, config.VocabSize)).ToArray();
        var decodePrompt = Ids(options.PromptTokens);
        var prefillPrompt = Ids(options.PrefillTokens);
        var maxLength = Math.Max(options.PrefillTokens, options.PromptTokens + options.DecodeTokens + 2) + 8;
        var modelName = options.ModelFolder is null ? options.Shape : Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/'));
        using var jsonl = options.JsonLines is null ? null : new StreamWriter(options.JsonLines, append: false) { AutoFlush = true };

        double Probe() => ReadBandwidth.Measure(options.Threads, options.BandwidthProbeBytes) / 1e9;

        // A decode measurement between two probes; its share is of their mean.
        PeerRow Decode(PeerRow row, Func<double> time, long? bytesPerToken)
        {
            var before = Probe();
            var rate = time();
            var probe = (before + Probe()) / 2;
            row = row with { tokens_per_s = Math.Round(rate, 2), bytes_per_token = bytesPerToken, probe_gb_per_s = Math.Round(probe, 2) };
            return bytesPerToken is { } bytes ? row with { share = Math.Round(bytes * rate / 1e9 / probe, 4) } : row;
        }

        void Record(PeerRow row)
        {
            if (row.bytes_per_token is { } bytes) row = row with { gb_per_s = Math.Round(bytes * row.tokens_per_s / 1e9, 2) };
            _rows.Add(row);
            jsonl?.WriteLine(JsonSerializer.Serialize(row));
            var share = row.share is null ? ""
                : string.Create(CultureInfo.InvariantCulture, $", {row.gb_per_s:0.0} GB/s = {row.share:P0} of the probes beside it ({row.probe_gb_per_s:0.0} GB/s)");
            log.WriteLine(row.metric == "read_bandwidth"
                ? string.Create(CultureInfo.InvariantCulture, $"round {row.round}: read bandwidth {row.gb_per_s:0.0} GB/s")
                : string.Create(CultureInfo.InvariantCulture, $"round {row.round}: {row.engine} {row.weights} r={row.r:0.##} {row.metric} {row.tokens_per_s:0.00} tok/s{share}"));
        }

        var ours = options.Ours.GroupBy(o => o.Weights).ToList();
        for (var round = 1; round <= options.Rounds; round++)
        {
            Record(new PeerRow("round", "machine", "-", 1, 0, "read_bandwidth", round, 0, null, null, options.Threads, 0, modelName, null, Math.Round(Probe(), 2)));
            foreach (var group in ours)
            {
                using var model = LayerSkipModel.Load(folder, OurWeights.Parse(group.Key), maxLength);
                model.TimePrefill(prefillPrompt); // warm-up: first calls at a shape create kernels
                Record(Row("ours", group.Key, 1, model.LayerCount, "prefill", round, model.TimePrefill(prefillPrompt), options.PrefillTokens, modelName));
                foreach (var c in group)
                {
                    var plan = model.Plan(c.Speedup);
                    Record(Decode(Row("ours", c.Weights, c.Speedup, plan.KeptCount, "decode", round, 0, options.DecodeTokens, modelName),
                        () => model.TimeDecode(decodePrompt, options.DecodeTokens, plan), model.StreamedBytes(plan)));
                }
            }
            foreach (var (type, path) in ggufs)
            {
                using var model = LlamaCppModel.Load(path, options.Threads, maxLength);
                model.TimePrefill(prefillPrompt);
                Record(Row("llama.cpp", type, 1, config.NumLayers, "prefill", round, model.TimePrefill(prefillPrompt), options.PrefillTokens, modelName));
                // Every tensor of a tied model is read per token (the embedding table is the output matrix), so the file
                // size is the bytes a token streams, up to its small metadata.
                Record(Decode(Row("llama.cpp", type, 1, config.NumLayers, "decode", round, 0, options.DecodeTokens, modelName),
                    () => model.TimeDecode(decodePrompt, options.DecodeTokens), config.TieWordEmbeddings ? new FileInfo(path).Length : null));
            }
        }

        foreach (var summary in Summarize(_rows))
        {
            _rows.Add(summary);
            jsonl?.WriteLine(JsonSerializer.Serialize(summary));
        }
        return _rows;
    }

    /// <summary>One summary row (median, min, max) per configuration and metric, from the round rows.</summary>
    public static List<PeerRow> Summarize(IEnumerable<PeerRow> rows) =>
        rows.Where(r => r.kind == "round").GroupBy(r => (r.engine, r.weights, r.r, r.metric)).Select(g =>
        {
            var first = g.First() with { kind = "summary", round = null };
            if (first.metric == "read_bandwidth")
            {
                var bound = Spread.Of(g.Select(r => r.gb_per_s ?? 0));
                return first with { gb_per_s = Math.Round(bound.Median, 2), min = bound.Min, max = bound.Max };
            }
            var spread = Spread.Of(g.Select(r => r.tokens_per_s));
            var median = Math.Round(spread.Median, 2);
            var shares = g.Where(r => r.share is not null).Select(r => r.share!.Value).ToList();
            var share = shares.Count > 0 ? Spread.Of(shares) : (Spread?)null;
            return first with
            {
                tokens_per_s = median, min = spread.Min, max = spread.Max,
                gb_per_s = first.bytes_per_token is { } bytes ? Math.Round(bytes * median / 1e9, 2) : null,
                probe_gb_per_s = null, share = share?.Median, share_min = share?.Min, share_max = share?.Max,
            };
        }).ToList();

    /// <summary>Rows read back from a JSON-lines file; an interrupted run's file has rounds but no summaries, which are then computed.</summary>
    public static List<PeerRow> ReadJsonLines(string path)
    {
        var rows = File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<PeerRow>(l)
            ?? throw new InvalidDataException($"{path}: a line is not a peer row")).ToList();
        return rows.Any(r => r.kind == "summary") ? rows : [.. rows, .. Summarize(rows)];
    }

    private PeerRow Row(string engine, string weights, double r, int kept, string metric, int round, double rate, int tokens, string model) =>
        new("round", engine, weights, r, kept, metric, round, Math.Round(rate, 2), null, null, options.Threads, tokens, model);

    /// <summary>The model folder, or random bf16 weights of the shape written once into the work folder.</summary>
    private string PrepareFolder()
    {
        if (options.ModelFolder is not null) return options.ModelFolder;
        var folder = Path.Combine(options.WorkFolder, $"{options.Shape}-random-bf16");
        if (File.Exists(Path.Combine(folder, "model.safetensors"))) return folder;
        log.WriteLine($"Writing random {options.Shape} weights (bf16) to {folder}...");
        RandomCheckpoint.Write(ModelShapes.Get(options.Shape), folder, options.Seed);
        return folder;
    }

    /// <summary>BF16 straight from our exporter; other types by llama.cpp's quantizer from that file. Files are reused.</summary>
    private string PrepareGguf(string folder, string type)
    {
        Directory.CreateDirectory(options.WorkFolder);
        var stem = Path.Combine(options.WorkFolder, Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/')));
        var bf16 = stem + "-BF16.gguf";
        if (!File.Exists(bf16))
        {
            log.WriteLine($"Exporting {folder} to {bf16}...");
            GgufModelExporter.Export(folder, bf16, GgmlType.BF16);
        }
        if (type.Equals("BF16", StringComparison.OrdinalIgnoreCase)) return bf16;
        var path = $"{stem}-{type.ToUpperInvariant()}.gguf";
        if (!File.Exists(path))
        {
            log.WriteLine($"Quantizing {bf16} to {type} with llama.cpp...");
            LlamaCppQuantizer.Quantize(bf16, path + ".tmp", type, options.Threads);
            File.Move(path + ".tmp", path);
        }
        return path;
    }

    /// <summary>The side-by-side table: decode and prefill medians with min–max, one row per configuration.</summary>
    public static string Markdown(IEnumerable<PeerRow> rows)
    {
        var summaries = rows.Where(r => r.kind == "summary").ToList();
        string Cell(PeerRow? r) => r is null ? "—" : string.Create(CultureInfo.InvariantCulture, $"{r.tokens_per_s:0.00} ({r.min:0.00}–{r.max:0.00})");
        var bound = summaries.FirstOrDefault(r => r.metric == "read_bandwidth")?.gb_per_s;
        // The share of the probes beside each measurement where the file has them (median and range over the rounds);
        // an older file's share is of the rounds' median probe.
        string Share(PeerRow d, double rate) => d.share is { } share
            ? string.Create(CultureInfo.InvariantCulture, $" ({share:P0}, {d.share_min:P0}–{d.share_max:P0})")
            : bound is > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({rate / bound.Value:P0})") : "";
        string Streamed(PeerRow d) => d.gb_per_s is not { } rate ? "—"
            : string.Create(CultureInfo.InvariantCulture, $"{d.bytes_per_token / 1e6:0} MB, {rate:0.0} GB/s{Share(d, rate)}");
        var lines = new List<string>
        {
            "| engine | weights | r | kept layers | decode tok/s, median (min–max) | read per token, GB/s (share of bound, min–max) | prefill tok/s, median (min–max) |",
            "|---|---|---:|---:|---:|---:|---:|",
        };
        foreach (var d in summaries.Where(r => r.metric == "decode"))
        {
            var prefill = d.r == 1 ? summaries.FirstOrDefault(p => p.metric == "prefill" && p.engine == d.engine && p.weights == d.weights) : null;
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {d.engine} | {d.weights} | {d.r:0.##} | {d.kept_layers} | {Cell(d)} | {Streamed(d)} | {(d.r == 1 ? Cell(prefill) : "(as r = 1)")} |"));
        }
        if (summaries.FirstOrDefault(r => r.metric == "read_bandwidth") is { } b)
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"\nRead bandwidth (SIMD sum over {b.threads} threads, median of the rounds): {b.gb_per_s:0.0} GB/s ({b.min:0.0}–{b.max:0.0})."));
        return string.Join('\n', lines);
    }
}
