using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Generation.Constraints;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Extensions.AI.Tools;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// Turns one request's token stream into <see cref="ChatResponseUpdate"/>s: decodes UTF-8 safely, pulls tool
/// calls out of the text, holds back possible stop sequences, and closes with usage, finish reason and the plan.
/// </summary>
internal sealed class ResponseDecoder
{
    /// <summary>Per-model pieces shared by every request (the tokenizer, the template's tool-call format, the JSON vocabulary).</summary>
    internal sealed class Resources(TextTokenizer tokenizer, string? template, IReadOnlyCollection<int> eosTokenIds)
    {
        private readonly Lazy<JsonConstraintVocabulary> _jsonVocabulary = new(() => new JsonConstraintVocabulary(BuildTokenTexts(tokenizer), eosTokenIds));

        public TextTokenizer Tokenizer { get; } = tokenizer;

        /// <summary>The engine's running router execution rate, when it has routers.</summary>
        public Func<double>? RouterExecutionRate { get; init; }

        /// <summary>The KV cache bytes the engine holds (decode groups plus prefix cache).</summary>
        public Func<long>? KvCacheBytes { get; init; }
        public IReadOnlyCollection<int> EosTokenIds { get; } = eosTokenIds;

        /// <summary>How the model writes tool calls, read off its chat template (Hermes tags when it has none).</summary>
        public ToolCallFormat ToolFormat { get; } = ToolCallStreamParser.DetectFormat(template) is var f && f is ToolCallFormat.None or ToolCallFormat.Auto ? ToolCallFormat.Hermes : f;

        /// <summary>The vocabulary as text, indexed for JSON-constrained decoding; built on first use, shared by requests.</summary>
        public JsonConstraintVocabulary JsonVocabulary => _jsonVocabulary.Value;

        private static IReadOnlyList<string?> BuildTokenTexts(TextTokenizer tokenizer)
        {
            var texts = new string?[tokenizer.VocabSize];
            var utf8 = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true);
            for (var id = 0; id < texts.Length; id++)
            {
                if (tokenizer.IsSpecial(id)) continue;
                try { texts[id] = utf8.GetString(tokenizer.TokenBytes(id).Span); }
                catch (System.Text.DecoderFallbackException) { texts[id] = null; } // a partial UTF-8 byte: never valid alone in JSON here
            }
            return texts;
        }
    }

    private readonly PreparedRequest _request;
    private readonly Resources _resources;
    private readonly StreamingDecoder _text;
    private readonly StopSequenceFilter _stops;
    private readonly IToolCallExtractor? _tools;
    private readonly string _responseId = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
    private readonly string _messageId = "msg-" + Guid.NewGuid().ToString("N")[..24];
    private readonly DateTimeOffset _created = DateTimeOffset.UtcNow;
    private readonly string _modelId;
    private int _outputTokens;
    private int _calls;

    public ResponseDecoder(Resources resources, PreparedRequest request, string modelId)
    {
        _request = request;
        _resources = resources;
        _modelId = modelId;
        _text = resources.Tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
        _stops = new StopSequenceFilter(request.StopSequences);
        _tools = request.Structure.CreateToolCallExtractor();
    }

    /// <summary>True once the response is complete before the engine finished (stop sequence, forced tool call done).</summary>
    public bool Done => _stops.Stopped || _request.Structure.IsCompleteAfterForcedCall(_calls);

    public IEnumerable<ChatResponseUpdate> OnToken(int token)
    {
        _outputTokens++;
        return Route(_text.Append(token));
    }

    public IEnumerable<ChatResponseUpdate> Finish(GenerationSummary? summary)
    {
        var updates = Route(_text.Flush()).ToList();
        if (_tools is not null) updates.AddRange(Emit(_tools.Flush()));
        var tail = _stops.Flush();
        if (tail.Length > 0) updates.Add(Update(new TextContent(tail)));

        // A constrained output the budget had to close early ends with Length, even though it is well-formed.
        var constraint = _request.Structure.Constraint;
        var finish = constraint is { BudgetForcedClose: true } ? ChatFinishReason.Length
            : _calls > 0 ? ChatFinishReason.ToolCalls
            : _stops.Stopped || summary is null || summary.FinishReason == FinishReason.Stop || constraint is { IsComplete: true } ? ChatFinishReason.Stop
            : ChatFinishReason.Length;
        var promptTokens = _request.Request.PromptTokens.Count;
        var plan = _request.Plan;
        var last = Update(new UsageContent(new UsageDetails
        {
            InputTokenCount = promptTokens,
            OutputTokenCount = _outputTokens,
            TotalTokenCount = promptTokens + _outputTokens,
        }));
        last.FinishReason = finish;
        var speculative = _request.Skip.IsSpeculative;
        var info = new LayerSkipInfo(plan.TargetSpeedup, plan.Policy, plan.KeptLayers.ToArray(),
            speculative ? LayerSkipMode.Speculative : LayerSkipMode.Skip,
            speculative && summary is { FullDepthPasses: > 0 } ? summary.AcceptanceRate : null,
            speculative && summary is { FullDepthPasses: > 0 } ? (double)summary.GeneratedTokens / summary.FullDepthPasses : null,
            plan.Policy == LayerPolicy.Router ? _resources.RouterExecutionRate?.Invoke() : null,
            _resources.KvCacheBytes?.Invoke());
        info.WriteTo(last.AdditionalProperties = []);
        updates.Add(last);
        return updates;
    }

    private IEnumerable<ChatResponseUpdate> Route(string text)
    {
        if (text.Length == 0) return [];
        if (_tools is null) return EmitText(text);
        return Emit(_tools.Append(text));
    }

    private IEnumerable<ChatResponseUpdate> Emit(IEnumerable<object> pieces)
    {
        foreach (var piece in pieces)
        {
            if (piece is FunctionCallContent call)
            {
                _calls++;
                yield return Update(call);
            }
            else if (piece is string s)
                foreach (var u in EmitText(s)) yield return u;
        }
    }

    private IEnumerable<ChatResponseUpdate> EmitText(string text)
    {
        var visible = _stops.Append(text);
        if (visible.Length > 0) yield return Update(new TextContent(visible));
    }

    private ChatResponseUpdate Update(AIContent content) => new(ChatRole.Assistant, [content])
    {
        ResponseId = _responseId,
        MessageId = _messageId,
        ModelId = _modelId,
        CreatedAt = _created,
    };
}

/// <summary>Separates tool calls from streamed text: yields strings (text to show) and <see cref="FunctionCallContent"/>s.</summary>
internal interface IToolCallExtractor
{
    IEnumerable<object> Append(string text);
    IEnumerable<object> Flush();
}
