using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Model;
using LayerSkip.Extensions.AI;
using Microsoft.Extensions.AI;

namespace LayerSkip.Cli.Commands.EndToEnd;

/// <summary>One scenario × mode × concurrency: per-request medians with min and max, and the aggregate output rate.</summary>
internal sealed record ChatBenchRow(
    string model, string scenario, string mode, int concurrency, int requests, int prompt_tokens, int output_tokens,
    double ttft_ms, double ttft_ms_min, double ttft_ms_max,
    double decode_tokens_per_s, double decode_tokens_per_s_min, double decode_tokens_per_s_max,
    double latency_ms, double latency_ms_min, double latency_ms_max, double aggregate_tokens_per_s);

/// <summary>
/// End-to-end requests through <see cref="LayerSkipChatClient"/> as an application sends them: chat template, tools,
/// sampling (temperature, top-k, top-p), streaming, the scheduler's batching of concurrent requests. Reports what a
/// user waits for: time to first token, decode rate after it, and the whole request's latency.
/// </summary>
internal sealed class ChatBench(ChatBenchOptions options, TextWriter log)
{
    private int _nextRequest = 1;

    public async Task<List<ChatBenchRow>> RunAsync()
    {
        var context = options.ContextFile is { } file ? File.ReadAllText(file) : DefaultContext();
        if (options.Scenarios.Contains("rag") && string.IsNullOrWhiteSpace(context))
            throw new CliException("The RAG scenario needs context text: pass --context-file, or set LAYERSKIP_SHARED to the shared data folder.");
        var (folder, name) = PrepareModel();
        using var client = new LayerSkipChatClient(new LayerSkipOptions
        {
            ModelPath = folder, Device = "cpu", ComputeDType = options.DType, MaxBatchSize = options.Concurrency.Max(),
            Threads = options.Threads, MaxSequenceLength = Math.Min(ModelConfigMaxLength(folder), options.ContextTokens + 1024),
            UseAdaptedPlan = false,
        });
        var rows = new List<ChatBenchRow>();
        using var jsonl = options.JsonLines is null ? null : new StreamWriter(options.JsonLines) { AutoFlush = true };
        // Tokenized once: requests only cut their slice, so preparing a request costs nothing the clock could see.
        var contextIds = options.Scenarios.Contains("rag") ? client.Engine.Tokenizer.Encode(context, addBos: false) : [];
        await RequestTiming.MeasureAsync(client, [new(ChatRole.User, "Hello")], Options(DecodeMode.Parse("r1"), 0, 4)); // warm-up
        foreach (var scenarioName in options.Scenarios)
        {
            ChatScenario Scenario(int request) => ChatScenario.Create(scenarioName, client.Engine.Tokenizer, contextIds, options.ContextTokens, request);
            foreach (var mode in options.Modes)
                foreach (var concurrency in options.Concurrency)
                {
                    ChatBenchRow row;
                    try
                    {
                        row = await MeasureAsync(client, name, Scenario, mode, concurrency);
                    }
                    catch (ArgumentException e)
                    {
                        log.WriteLine($"{scenarioName} {mode.Name} ×{concurrency}: skipped: {e.Message}");
                        continue;
                    }
                    rows.Add(row);
                    jsonl?.WriteLine(JsonSerializer.Serialize(row));
                    log.WriteLine(Format(row));
                }
        }
        return rows;
    }

    private async Task<ChatBenchRow> MeasureAsync(IChatClient client, string model, Func<int, ChatScenario> scenarios, DecodeMode mode, int concurrency)
    {
        // Every measurement uses fresh request numbers, so no two requests of the whole run share a user prompt.
        var count = concurrency == 1 ? options.Requests : concurrency;
        var requests = Enumerable.Range(_nextRequest, count).Select(scenarios).ToList();
        Task<RequestTiming> Send(int i) =>
            RequestTiming.MeasureAsync(client, requests[i].Messages, Options(mode, _nextRequest + i, requests[i].MaxOutputTokens, requests[i].Tools));
        var scenario = requests[0];
        var timings = new List<RequestTiming>();
        var wall = Stopwatch.StartNew();
        if (concurrency == 1)
            for (var i = 0; i < count; i++)
                timings.Add(await Send(i));
        else
            timings.AddRange(await Task.WhenAll(Enumerable.Range(0, count).Select(Send)));
        _nextRequest += count;
        var seconds = wall.Elapsed.TotalSeconds;
        var ttft = Spread.Of(timings.Select(t => t.FirstTokenMs));
        var decode = Spread.Of(timings.Select(t => t.DecodeTokensPerSecond));
        var latency = Spread.Of(timings.Select(t => t.TotalMs));
        var output = timings.Sum(t => t.OutputTokens);
        static double R(double v) => Math.Round(v, 1);
        return new ChatBenchRow(model, scenario.Name, mode.Name, concurrency, timings.Count, timings[0].PromptTokens, output,
            R(ttft.Median), R(ttft.Min), R(ttft.Max), Math.Round(decode.Median, 2), Math.Round(decode.Min, 2), Math.Round(decode.Max, 2),
            R(latency.Median), R(latency.Min), R(latency.Max), Math.Round(output / seconds, 2));
    }

    private ChatOptions Options(DecodeMode mode, int seed, int maxTokens, IList<AITool>? tools = null)
    {
        var o = new ChatOptions
        {
            Temperature = (float)options.Temperature, TopP = options.TopP, TopK = options.TopK, Seed = seed + 1,
            MaxOutputTokens = maxTokens, Tools = tools, ToolMode = tools is null ? null : ChatToolMode.Auto,
        };
        return mode.Speculative ? o.WithSpeculativeDecoding(mode.Speedup) : o.WithLayerSkip(mode.Speedup);
    }

    /// <summary>The model folder, or random weights of the shape with the tokenizer of another folder, written once.</summary>
    private (string Folder, string Name) PrepareModel()
    {
        if (options.ModelFolder is { } folder) return (folder, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))));
        var shape = options.Shape ?? throw new CliException("Give --model DIR, or --shape NAME with --tokenizer-from DIR.");
        var tokenizer = options.TokenizerFrom ?? throw new CliException("--shape needs --tokenizer-from DIR (a folder with tokenizer.json and a chat template).");
        if (!File.Exists(Path.Combine(tokenizer, "tokenizer.json"))) throw new CliException($"--tokenizer-from: no tokenizer.json in '{tokenizer}'.");
        var target = Path.Combine(Path.GetTempPath(), "layerskip-e2e", $"{shape}-{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(tokenizer)))}");
        if (!File.Exists(Path.Combine(target, "model.safetensors")))
        {
            log.WriteLine($"Writing random {shape} weights with the tokenizer of {tokenizer} to {target}...");
            RandomCheckpoint.Write(ModelShapes.Get(shape), target, seed: 1, tokenizerSource: tokenizer);
        }
        return (target, $"{shape} (random weights)");
    }

    private static int ModelConfigMaxLength(string folder) => LayerSkip.Engine.Loading.ModelConfig.Load(folder).MaxPositionEmbeddings;

    /// <summary>
    /// Stories from the shared evaluation text ($LAYERSKIP_SHARED, or a shared/ folder above the tool or the current
    /// directory) when it is there; otherwise the RAG scenario needs --context-file.
    /// </summary>
    private static string DefaultContext()
    {
        var file = Path.Combine("data", "tinystories_dev.txt");
        if (Environment.GetEnvironmentVariable("LAYERSKIP_SHARED") is { Length: > 0 } shared && File.Exists(Path.Combine(shared, file)))
            return File.ReadAllText(Path.Combine(shared, file));
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", file);
                if (File.Exists(candidate)) return File.ReadAllText(candidate);
            }
        return "";
    }

    public static string Format(ChatBenchRow r) => string.Create(CultureInfo.InvariantCulture,
        $"| {r.scenario} | {r.mode} | {r.concurrency} | {r.requests} | {r.prompt_tokens} | {(double)r.output_tokens / r.requests:0} | {r.ttft_ms:0} ({r.ttft_ms_min:0}–{r.ttft_ms_max:0}) | " +
        $"{r.decode_tokens_per_s:0.0} ({r.decode_tokens_per_s_min:0.0}–{r.decode_tokens_per_s_max:0.0}) | {r.latency_ms:0} ({r.latency_ms_min:0}–{r.latency_ms_max:0}) | {r.aggregate_tokens_per_s:0.0} |");

    public const string Header =
        "| scenario | mode | concurrent | requests | prompt tokens | output tokens per request | TTFT ms, median (min–max) | decode tok/s per request | latency ms | aggregate output tok/s |\n" +
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|";
}
