using System.Runtime.CompilerServices;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Extensions.AI.Prompting;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// An <see cref="IChatClient"/> over a local LLaMA-family model that decodes with Unified Layer Skipping.
/// Each request chooses its speed/quality point in <see cref="ChatOptions.AdditionalProperties"/>
/// (<c>layerskip.speedup_ratio</c>, <c>layerskip.policy</c>; see <see cref="ChatOptionsLayerSkipExtensions"/>),
/// falling back to <see cref="LayerSkipOptions"/>. Thread-safe: concurrent requests are batched on the engine.
/// </summary>
public sealed class LayerSkipChatClient : IChatClient
{
    private readonly InferenceEngine _engine;
    private readonly bool _ownsEngine;
    private readonly LayerSkipOptions _options;
    private readonly PromptFormatter _prompts;
    private readonly ChatClientMetadata _metadata;
    private readonly ResponseDecoder.Resources _decoding;
    private int _disposed;

    /// <summary>Loads the model folder of <paramref name="options"/>; the client owns (and disposes) the engine.</summary>
    public LayerSkipChatClient(LayerSkipOptions options)
        : this(LoadEngine(options), options, ownsEngine: true)
    {
    }

    /// <summary>Serves an engine that is already loaded; the caller keeps ownership of it.</summary>
    public LayerSkipChatClient(InferenceEngine engine, LayerSkipOptions? options = null)
        : this(engine, options ?? new LayerSkipOptions { ModelPath = engine.ModelPath ?? "" }, ownsEngine: false)
    {
    }

    private LayerSkipChatClient(InferenceEngine engine, LayerSkipOptions options, bool ownsEngine)
    {
        _engine = engine ?? throw new ArgumentNullException(nameof(engine));
        _options = options;
        _ownsEngine = ownsEngine;
        try
        {
            options.ValidateDefaults();
            var source = ChatTemplateSource.Load(engine.ModelPath);
            _prompts = new PromptFormatter(source, engine.Tokenizer);
            ModelId = options.ModelId ?? (engine.ModelPath is { } p ? ModelFolder.DisplayName(p) : "layerskip");
            _metadata = new ChatClientMetadata("layerskip", engine.ModelPath is { } path ? new Uri(Path.GetFullPath(path)) : null, ModelId);
            _decoding = new ResponseDecoder.Resources(engine.Tokenizer, source.Template, engine.EosTokenIds)
            {
                RouterExecutionRate = engine.Router is { } router ? () => router.ExecutionRate : null,
                KvCacheBytes = () => engine.KvCacheBytes,
            };
        }
        catch
        {
            if (ownsEngine) engine.Dispose();
            throw;
        }
    }

    private static InferenceEngine LoadEngine(LayerSkipOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return InferenceEngine.Load(options.ToEngineOptions());
    }

    /// <summary>The model id reported in responses.</summary>
    public string ModelId { get; }

    /// <summary>The engine serving this client.</summary>
    public InferenceEngine Engine => _engine;

    /// <summary>
    /// The streaming path collected (one code path). The <c>layerskip.*</c> values ride on the last update, which
    /// the merge puts on the message; they are lifted onto the response, where <see cref="LayerSkipResponseExtensions.GetLayerSkipInfo(ChatResponse)"/> reads them.
    /// </summary>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        LayerSkipInfo.Lift(await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken).ConfigureAwait(false));

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ArgumentNullException.ThrowIfNull(messages);
        var prepared = await PrepareAsync(messages, options, cancellationToken).ConfigureAwait(false);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stream = _engine.Submit(prepared.Request, linked.Token);
        var response = new ResponseDecoder(_decoding, prepared, ModelId);

        var finished = false;
        try
        {
            await foreach (var token in ReadTokens(stream, linked, cancellationToken).ConfigureAwait(false))
            {
                foreach (var update in response.OnToken(token)) yield return update;
                if (!response.Done) continue;
                linked.Cancel(); // a stop sequence or a complete forced tool call ends generation
                break;
            }

            GenerationSummary? summary = null;
            if (!response.Done)
                summary = await stream.Completion.ConfigureAwait(false);
            foreach (var update in response.Finish(summary)) yield return update;
            finished = true;
        }
        finally
        {
            // A caller that stops reading early (or fails) must not leave the engine generating for nobody.
            if (!finished) linked.Cancel();
        }
    }

    /// <summary>Tokens until the stream ends; a cancellation we caused ourselves (stop sequence) ends it quietly.</summary>
    private static async IAsyncEnumerable<int> ReadTokens(GenerationStream stream, CancellationTokenSource linked, [EnumeratorCancellation] CancellationToken callerToken)
    {
        var reader = stream.Tokens;
        while (true)
        {
            bool more;
            try
            {
                more = await reader.WaitToReadAsync(callerToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!callerToken.IsCancellationRequested && linked.IsCancellationRequested)
            {
                yield break;
            }
            if (!more) yield break;
            while (reader.TryRead(out var token))
            {
                callerToken.ThrowIfCancellationRequested();
                yield return token;
            }
        }
    }

    /// <summary>Shapes the chat request into an engine request; the engine chooses the plan and checks the request.</summary>
    private async Task<PreparedRequest> PrepareAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        if (options?.ModelId is { Length: > 0 } requested && !string.Equals(requested, ModelId, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"ChatOptions.ModelId '{requested}' does not match this client's model '{ModelId}'.", nameof(options));
        var skip = options.GetLayerSkip() ?? new LayerSkipRequest();
        var drafts = skip.DraftSource ?? DraftSource.Model;
        var lookup = skip.IsSpeculative && drafts == DraftSource.Lookup;
        if (lookup && skip.DraftPrecision is { } precision && precision != WeightFormat.None)
            throw new ArgumentException(
                $"'{LayerSkipPropertyNames.DraftPrecision}' = {LayerSkipProperties.PrecisionName(precision)} does not apply to drafts copied from the context ('{LayerSkipPropertyNames.DraftSource}' = lookup): they run no model.",
                LayerSkipPropertyNames.DraftPrecision);
        // Lookup drafts run no layers, so no plan (the request's, the defaults' or the model's adapted one) applies: every step runs full depth.
        var plan = lookup
            ? LayerPlan.Full(_engine.Config.NumLayers)
            : await CreatePlanAsync(skip, cancellationToken).ConfigureAwait(false);
        var structure = OutputStructure.From(options, _decoding);
        var prompt = _prompts.Render(messages, options) + structure.AssistantPrefix;
        var maxTokens = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens;
        if (maxTokens < 1) throw new ArgumentException($"ChatOptions.MaxOutputTokens must be at least 1, got {maxTokens}.", nameof(options));
        var sampling = SamplingOptions.ForModel(_engine.Config, options?.Temperature, options?.TopP, options?.TopK,
            options?.Seed is long seed ? unchecked((int)(seed ^ (seed >> 32))) : null) with
        {
            FrequencyPenalty = options?.FrequencyPenalty ?? 0,
            PresencePenalty = options?.PresencePenalty ?? 0,
        };
        var promptTokens = _prompts.Tokenize(prompt);
        // The constraint closes JSON and tool calls within what is left: the token budget and the context.
        var room = _engine.MaxSequenceLength - promptTokens.Count;
        var processor = structure.CreateLogitsProcessor(Math.Min(maxTokens, room));
        if (structure.Constraint?.TokenBudget is { } needed && needed > maxTokens)
        {
            if (needed > room)
                throw new ArgumentException(
                    $"The prompt leaves {room} tokens below the maximum sequence length, but the shortest well-formed {(structure.ForcedToolCall ? "tool call" : "JSON response")} needs {needed}.",
                    nameof(messages));
            maxTokens = needed; // a forced structure always gets the tokens its shortest complete form needs
        }
        var request = new GenerationRequest
        {
            PromptTokens = promptTokens,
            MaxNewTokens = maxTokens,
            Sampling = sampling,
            Plan = plan,
            LogitsProcessor = processor,
            Speculative = skip.IsSpeculative
                ? new SpeculativeOptions { Drafts = drafts, MaxDraftTokens = skip.DraftTokens ?? 6, DraftPrecision = skip.DraftPrecision ?? WeightFormat.None }
                : null,
        };
        try
        {
            _engine.Validate(request);
        }
        catch (ArgumentException e) when (e.ParamName == nameof(GenerationRequest.Speculative))
        {
            throw new ArgumentException($"'{LayerSkipPropertyNames.Mode}' = speculative: {Reason(e)}", LayerSkipPropertyNames.Mode, e);
        }
        return new PreparedRequest(request, plan, skip, structure, StopSequences(options));
    }

    private static string[] StopSequences(ChatOptions? options)
    {
        var stops = options?.StopSequences?.ToArray() ?? [];
        if (stops.Any(string.IsNullOrEmpty))
            throw new ArgumentException("ChatOptions.StopSequences must not contain null or empty strings (an empty stop sequence would match before any text).", nameof(ChatOptions.StopSequences));
        return stops;
    }

    /// <summary>The engine's plan for the request over this client's defaults; a problem names the key that caused it.</summary>
    private async Task<LayerPlan> CreatePlanAsync(LayerSkipRequest skip, CancellationToken cancellationToken)
    {
        try
        {
            return await _engine.CreatePlanAsync(skip, _options.DefaultRequest(), cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            var key = skip.Layers is not null ? LayerSkipPropertyNames.Layers
                : skip.Policy is not null && skip.SpeedupRatio is null ? LayerSkipPropertyNames.Policy : LayerSkipPropertyNames.SpeedupRatio;
            throw new ArgumentException($"Invalid layer-skip request ('{key}'): {Reason(e)}", key, e);
        }
    }

    private static string Reason(ArgumentException e) =>
        e.ParamName is { } p ? e.Message.Replace($" (Parameter '{p}')", "").Split(Environment.NewLine)[0] : e.Message;

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(InferenceEngine)) return _engine;
        if (serviceType == typeof(TextTokenizer)) return _engine.Tokenizer;
        if (serviceType == typeof(LayerSkipOptions)) return _options;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_ownsEngine) _engine.Dispose();
    }
}

/// <summary>A request ready for the engine, with what the response side needs to know about it.</summary>
internal sealed record PreparedRequest(GenerationRequest Request, LayerPlan Plan, LayerSkipRequest Skip, OutputStructure Structure, IReadOnlyList<string> StopSequences);
