using System.Diagnostics;
using System.Runtime.CompilerServices;
using LayerSkip.Engine.Generation;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// Records the <see cref="LayerSkipMetrics"/> of the client it wraps: decode speed per skip policy for each response,
/// and (when a <see cref="LayerSkipChatClient"/> is inside) its engine's layers per token, batch sizes and queue.
/// Added to a pipeline with <see cref="LayerSkipChatClientBuilderExtensions.UseLayerSkipMetrics"/>.
/// </summary>
public sealed class LayerSkipMetricsChatClient : DelegatingChatClient
{
    private readonly LayerSkipMetrics _metrics;
    private readonly string _model;
    private readonly IDisposable? _engineSubscription;

    public LayerSkipMetricsChatClient(IChatClient innerClient, LayerSkipMetrics metrics, string? modelId = null)
        : base(innerClient)
    {
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _model = modelId ?? innerClient.GetService<ChatClientMetadata>()?.DefaultModelId ?? "unknown";
        if (innerClient.GetService<InferenceEngine>() is { } engine) _engineSubscription = metrics.ObserveEngine(engine, _model);
    }

    /// <summary>Runs through the streaming path (as <see cref="LayerSkipChatClient"/> itself does) to time the first token.</summary>
    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        LayerSkipInfo.Lift(await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken).ConfigureAwait(false));

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        long firstToken = 0;
        long? outputTokens = null;
        string? policy = null;
        await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            if (firstToken == 0 && update.Contents.Any(c => c is TextContent or FunctionCallContent or TextReasoningContent))
                firstToken = Stopwatch.GetTimestamp();
            foreach (var content in update.Contents)
                if (content is UsageContent u) outputTokens = u.Details.OutputTokenCount;
            if (update.GetLayerSkipInfo() is { } info) policy = info.Policy.ToString();
            yield return update;
        }
        var decodeSeconds = firstToken == 0 ? 0 : Stopwatch.GetElapsedTime(firstToken).TotalSeconds;
        if (outputTokens is > 1 && decodeSeconds > 0)
            _metrics.DecodeTokensPerSecond.Record((outputTokens.Value - 1) / decodeSeconds,
                new KeyValuePair<string, object?>(LayerSkipMetrics.ModelTag, _model), new KeyValuePair<string, object?>(LayerSkipMetrics.PolicyTag, policy ?? "unknown"));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _engineSubscription?.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Opt-in layer-skip metrics for a chat pipeline.</summary>
public static class LayerSkipChatClientBuilderExtensions
{
    /// <summary>
    /// Adds <see cref="LayerSkipMetricsChatClient"/> to the pipeline: <paramref name="metrics"/>, else the container's
    /// <see cref="LayerSkipMetrics"/> (registered by <c>AddLayerSkipChatClient</c>), else a meter of its own.
    /// Combine with <c>UseOpenTelemetry()</c> for token counts and latencies.
    /// </summary>
    public static ChatClientBuilder UseLayerSkipMetrics(this ChatClientBuilder builder, LayerSkipMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use((inner, services) => new LayerSkipMetricsChatClient(inner,
            metrics ?? (services.GetService(typeof(LayerSkipMetrics)) as LayerSkipMetrics) ?? new LayerSkipMetrics()));
    }
}
