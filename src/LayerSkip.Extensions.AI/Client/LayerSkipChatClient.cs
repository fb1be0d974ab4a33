using System.Runtime.CompilerServices;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Engine.Training;
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
    private readonly LayerPlan? _adaptedPlan;
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
            if (!double.IsFinite(options.DefaultSpeedupRatio) || options.DefaultSpeedupRatio < 1)
                throw new ArgumentException($"LayerSkipOptions.DefaultSpeedupRatio must be a finite number ≥ 1, got {options.DefaultSpeedupRatio}.", nameof(options));
            if (options.CalibrationText is { } calibration) engine.Plans.CalibrationTextOverride = calibration;
            var source = ChatTemplateSource.Load(engine.ModelPath);
            _prompts = new PromptFormatter(source, engine.Tokenizer);
            ModelId = options.ModelId ?? (engine.ModelPath is { } p ? ModelFolder.DisplayName(p) : "layerskip");
            _metadata = new ChatClientMetadata("layerskip", engine.ModelPath is { } path ? new Uri(Path.GetFullPath(path)) : null, ModelId);
            if (options.UseAdaptedPlan && engine.ModelPath is { } folder && AdaptedPlan.TryRead(folder, out var adapted))
                _adaptedPlan = adapted.ToLayerPlan();
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

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        // One code path: the response is the merged stream. The plan rides on the last update, and the merge does
        // not carry update properties to the response, so they are copied over.
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
            updates.Add(update);
        var response = updates.ToChatResponse();
        foreach (var update in updates)
        {
            if (update.AdditionalProperties is not { } props) continue;
            response.AdditionalProperties ??= new AdditionalPropertiesDictionary();
            foreach (var (key, value) in props) response.AdditionalProperties[key] = value;
        }
        return response;
    }

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

    private async Task<PreparedRequest> PrepareAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        if (options?.ModelId is { Length: > 0 } requested && !string.Equals(requested, ModelId, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"ChatOptions.ModelId '{requested}' does not match this client's model '{ModelId}'.", nameof(options));
        var requestedSkip = options.GetLayerSkip();
        LayerSkipSettings skip;
        LayerPlan plan;
        if (_adaptedPlan is not null && requestedSkip is null)
        {
            // The model was fine-tuned for this plan: it is the right default (and full depth is now the worse choice).
            plan = _adaptedPlan;
            skip = new LayerSkipSettings(plan.TargetSpeedup, Enum.Parse<SkipPolicy>(plan.Policy.ToString()), plan.KeptLayers);
        }
        else
        {
            skip = options.ResolveLayerSkip(requestedSkip, _options);
            plan = await CreatePlanAsync(skip, cancellationToken).ConfigureAwait(false);
        }
        var structure = OutputStructure.From(options, _decoding);
        var prompt = _prompts.Render(messages, options) + structure.AssistantPrefix;
        var promptTokens = _prompts.Tokenize(prompt);
        if (promptTokens.Count >= _engine.MaxSequenceLength)
            throw new ArgumentException(
                $"The prompt has {promptTokens.Count} tokens, which leaves no room below the maximum sequence length of {_engine.MaxSequenceLength}.",
                nameof(messages));
        var config = _engine.Config;
        var sampling = new SamplingOptions
        {
            Temperature = options?.Temperature ?? config.DefaultTemperature ?? 0.7,
            TopP = options?.TopP ?? config.DefaultTopP,
            TopK = options?.TopK ?? config.DefaultTopK,
            Seed = options?.Seed is long seed ? unchecked((int)(seed ^ (seed >> 32))) : null,
            FrequencyPenalty = options?.FrequencyPenalty ?? 0,
            PresencePenalty = options?.PresencePenalty ?? 0,
        };
        var maxTokens = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens;
        if (maxTokens < 1) throw new ArgumentException($"ChatOptions.MaxOutputTokens must be at least 1, got {maxTokens}.", nameof(options));
        var speculative = skip.Mode == LayerSkipMode.Speculative;
        var processor = structure.CreateLogitsProcessor();
        if (speculative && (processor is not null || sampling.FrequencyPenalty != 0 || sampling.PresencePenalty != 0))
            throw new ArgumentException(
                $"'{LayerSkipPropertyNames.Mode}' = speculative cannot be combined with JSON output, forced tool calls or frequency/presence penalties.",
                LayerSkipPropertyNames.Mode);
        var request = new GenerationRequest
        {
            PromptTokens = promptTokens,
            MaxNewTokens = maxTokens,
            Sampling = sampling,
            Plan = plan,
            LogitsProcessor = processor,
            Speculative = speculative ? new SpeculativeOptions() : null,
        };
        return new PreparedRequest(request, plan, skip, structure, StopSequences(options));
    }

    private static string[] StopSequences(ChatOptions? options)
    {
        var stops = options?.StopSequences?.ToArray() ?? [];
        if (stops.Any(string.IsNullOrEmpty))
            throw new ArgumentException("ChatOptions.StopSequences must not contain null or empty strings (an empty stop sequence would match before any text).", nameof(ChatOptions.StopSequences));
        return stops;
    }

    private async Task<LayerPlan> CreatePlanAsync(LayerSkipSettings skip, CancellationToken cancellationToken)
    {
        var policy = Enum.Parse<LayerPolicy>(skip.Policy.ToString());
        try
        {
            return await _engine.CreatePlanAsync(policy, skip.SpeedupRatio, _options.RandomPolicySeed, skip.Layers, cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            var key = skip.Layers is not null && policy == LayerPolicy.Explicit ? LayerSkipPropertyNames.Layers : LayerSkipPropertyNames.SpeedupRatio;
            throw new ArgumentException($"Invalid layer-skip request ('{key}'): {e.Message}", key, e);
        }
    }

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
internal sealed record PreparedRequest(GenerationRequest Request, LayerPlan Plan, LayerSkipSettings Skip, OutputStructure Structure, IReadOnlyList<string> StopSequences);
