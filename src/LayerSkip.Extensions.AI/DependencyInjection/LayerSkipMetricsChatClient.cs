using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// Records the response-side <see cref="LayerSkipMetrics"/> (tokens, decode tokens/s, time to first token) of the
/// client it wraps. <see cref="Microsoft.Extensions.DependencyInjection.LayerSkipServiceCollectionExtensions"/>
/// puts it directly around each <see cref="LayerSkipChatClient"/>.
/// </summary>
public sealed class LayerSkipMetricsChatClient : DelegatingChatClient
{
    private readonly LayerSkipMetrics _metrics;
    private readonly string _model;

    public LayerSkipMetricsChatClient(IChatClient innerClient, LayerSkipMetrics metrics, string? modelId = null)
        : base(innerClient)
    {
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _model = modelId ?? innerClient.GetService<ChatClientMetadata>()?.DefaultModelId ?? "unknown";
    }

    /// <summary>Runs through the streaming path (as <see cref="LayerSkipChatClient"/> itself does) to time the first token.</summary>
    public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        long firstToken = 0;
        UsageDetails? usage = null;
        object? policy = null;
        await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            if (firstToken == 0 && update.Contents.Any(c => c is TextContent or FunctionCallContent or TextReasoningContent))
                firstToken = Stopwatch.GetTimestamp();
            foreach (var content in update.Contents)
                if (content is UsageContent u) usage = u.Details;
            if (update.AdditionalProperties?.TryGetValue(LayerSkipPropertyNames.Policy, out var p) == true) policy = p;
            yield return update;
        }
        Record(started, firstToken, Stopwatch.GetTimestamp(), usage, policy?.ToString());
    }

    private void Record(long started, long firstToken, long ended, UsageDetails? usage, string? policy)
    {
        var model = new KeyValuePair<string, object?>(LayerSkipMetrics.ModelTag, _model);
        var pol = new KeyValuePair<string, object?>(LayerSkipMetrics.PolicyTag, policy ?? "unknown");
        if (usage?.OutputTokenCount is long output) _metrics.TokensGenerated.Add(output, model, pol);
        if (usage?.InputTokenCount is long input) _metrics.PromptTokens.Add(input, model, pol);
        if (firstToken == 0) return;
        _metrics.TimeToFirstToken.Record(Stopwatch.GetElapsedTime(started, firstToken).TotalSeconds, model, pol);
        var decodeSeconds = Stopwatch.GetElapsedTime(firstToken, ended).TotalSeconds;
        if (usage?.OutputTokenCount is long n && n > 1 && decodeSeconds > 0)
            _metrics.DecodeTokensPerSecond.Record((n - 1) / decodeSeconds, model, pol);
    }
}
