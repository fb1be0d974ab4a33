using System.Diagnostics;
using Microsoft.Extensions.AI;

namespace LayerSkip.Cli.Commands.EndToEnd;

/// <summary>What one streamed request cost: time to the first output, the whole request, and its decode rate.</summary>
internal sealed record RequestTiming(double FirstTokenMs, double TotalMs, int PromptTokens, int OutputTokens)
{
    /// <summary>Tokens after the first per second of streaming after the first (0 when there was nothing to time).</summary>
    public double DecodeTokensPerSecond => OutputTokens > 1 && TotalMs > FirstTokenMs ? (OutputTokens - 1) / ((TotalMs - FirstTokenMs) / 1000) : 0;

    public static async Task<RequestTiming> MeasureAsync(IChatClient client, IReadOnlyList<ChatMessage> messages, ChatOptions options)
    {
        var clock = Stopwatch.StartNew();
        double? first = null;
        long input = 0, output = 0;
        await foreach (var update in client.GetStreamingResponseAsync(messages, options))
        {
            if (first is null && update.Contents.Any(c => c is TextContent { Text.Length: > 0 } or TextReasoningContent or FunctionCallContent))
                first = clock.Elapsed.TotalMilliseconds;
            foreach (var usage in update.Contents.OfType<UsageContent>())
            {
                input = usage.Details.InputTokenCount ?? input;
                output = usage.Details.OutputTokenCount ?? output;
            }
        }
        var total = clock.Elapsed.TotalMilliseconds;
        return new RequestTiming(first ?? total, total, (int)input, (int)output);
    }
}
