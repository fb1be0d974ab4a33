using System.Diagnostics;
using System.Threading.Channels;
using LayerSkip.Extensions.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LayerSkip.Samples.Worker;

/// <summary>
/// Drains a queue of prompts through the DI-registered <see cref="IChatClient"/> with several requests in flight
/// (the engine decodes them in one batch), records the throughput, then stops the host. It knows nothing about
/// layer skipping: the speed comes from configuration (LayerSkip:DefaultSpeedupRatio).
/// Before the clock starts, one untimed batch of the same requests warms the host (JIT, the engine's first batches
/// under its plan), so a full-depth run and a skipping run are compared warm against warm.
/// </summary>
public sealed class PromptQueueWorker(
    IChatClient chat,
    IOptions<WorkerOptions> options,
    IOptions<LayerSkipOptions> layerSkip,
    ThroughputReport report,
    IHostApplicationLifetime lifetime,
    ILogger<PromptQueueWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var o = options.Value;
            var prompts = LoadPrompts(o);
            var queue = Channel.CreateUnbounded<string>();
            foreach (var p in prompts) queue.Writer.TryWrite(p);
            queue.Writer.Complete();

            report.Prompts = prompts.Count;
            report.SpeedupRatio = layerSkip.Value.DefaultSpeedupRatio;
            report.Policy = layerSkip.Value.DefaultSkipPolicy.ToString();
            if (o.WarmUp) await WarmUpAsync(prompts.Take(Math.Max(1, o.Concurrency)), stoppingToken);
            long tokens = 0;
            var started = Stopwatch.GetTimestamp();
            var consumers = Enumerable.Range(0, Math.Max(1, o.Concurrency)).Select(async _ =>
            {
                await foreach (var prompt in queue.Reader.ReadAllAsync(stoppingToken))
                {
                    var response = await chat.GetResponseAsync(prompt, new ChatOptions { Temperature = 0 }, stoppingToken);
                    Interlocked.Add(ref tokens, response.Usage?.OutputTokenCount ?? 0);
                    logger.LogDebug("{Prompt} →{Text}", prompt, response.Text);
                }
            });
            await Task.WhenAll(consumers);
            report.Elapsed = Stopwatch.GetElapsedTime(started);
            report.OutputTokens = tokens;
            report.Completed = true;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            report.Error = e;
            logger.LogError(e, "The prompt queue failed");
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    private async Task WarmUpAsync(IEnumerable<string> prompts, CancellationToken stoppingToken)
    {
        var warm = new ChatOptions { Temperature = 0, MaxOutputTokens = 8 };
        await Task.WhenAll(prompts.Select(p => chat.GetResponseAsync(p, warm, stoppingToken)));
        report.WarmedUp = true;
    }

    private static List<string> LoadPrompts(WorkerOptions o)
    {
        var file = SampleData.Resolve(string.IsNullOrWhiteSpace(o.PromptFile) ? null : o.PromptFile, "data", "tinystories_dev.txt");
        if (!File.Exists(file)) throw new FileNotFoundException($"Worker:PromptFile '{file}' does not exist.", file);
        return File.ReadLines(file)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0)
            .Take(o.PromptCount)
            .Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(Math.Max(1, o.PromptWords))))
            .ToList();
    }
}
