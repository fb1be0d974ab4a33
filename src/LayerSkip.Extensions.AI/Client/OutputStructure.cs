using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Generation.Constraints;
using LayerSkip.Extensions.AI.Tools;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// What shape the response must take — free text, text that may contain tool calls, a forced tool call
/// (<see cref="ChatToolMode.RequireAny"/> or a required function), JSON (optionally matching a schema), or either a
/// tool call or the JSON document (JSON with tools in auto mode) — and the decoding aids that enforce it: a grammar
/// constraint on sampling that also closes the output within the token budget, and a tool-call parser on the text.
/// </summary>
internal sealed class OutputStructure
{
    /// <summary>Key in <see cref="ChatOptions.AdditionalProperties"/> or a function's
    /// <see cref="AITool.AdditionalProperties"/> choosing strict (true, the default here) or non-strict schemas; the
    /// same key Microsoft.Extensions.AI's OpenAI client reads.</summary>
    public const string StrictKey = "strictJsonSchema";

    private const string HermesOpen = "<tool_call>\n";
    private const string HermesClose = "\n</tool_call>";

    private readonly ResponseDecoder.Resources _resources;
    private readonly OutputGrammar? _grammar;
    private readonly ToolCallFormat _toolFormat;

    private OutputStructure(ResponseDecoder.Resources resources, OutputGrammar? grammar, ToolCallFormat toolFormat, bool forcedCall, string prefix)
    {
        _resources = resources;
        _grammar = grammar;
        _toolFormat = toolFormat;
        ForcedToolCall = forcedCall;
        AssistantPrefix = prefix;
    }

    /// <summary>Text appended after the generation prompt: the opening tag of a forced tool call.</summary>
    public string AssistantPrefix { get; }

    /// <summary>The response must be exactly one tool call.</summary>
    public bool ForcedToolCall { get; }

    /// <summary>The grammar constraint of this request, once created (null for free text).</summary>
    public JsonLogitsProcessor? Constraint { get; private set; }

    /// <exception cref="ArgumentException">A schema (of the response format or of a tool) cannot be honoured, or the
    /// required function is not among the tools.</exception>
    public static OutputStructure From(ChatOptions? options, ResponseDecoder.Resources resources)
    {
        var tools = options?.Tools?.OfType<AIFunctionDeclaration>().ToList() ?? [];
        var mode = options?.ToolMode;
        var format = tools.Count == 0 || mode is NoneChatToolMode ? ToolCallFormat.None : resources.ToolFormat;
        if (mode is RequiredChatToolMode required && format != ToolCallFormat.None)
        {
            var candidates = required.RequiredFunctionName is { } name ? tools.Where(t => t.Name == name).ToList() : tools;
            if (candidates.Count == 0)
                throw new ArgumentException($"ChatOptions.ToolMode requires the function '{required.RequiredFunctionName}', which is not among ChatOptions.Tools.", nameof(options));
            var hermes = format == ToolCallFormat.Hermes;
            var call = CallGrammar(candidates, options, format, prefix: "", suffix: hermes ? HermesClose : "");
            return new OutputStructure(resources, call, format, forcedCall: true, hermes ? HermesOpen : "");
        }
        if (options?.ResponseFormat is ChatResponseFormatJson json)
        {
            OutputGrammar document;
            try
            {
                document = json.Schema is { } schema ? OutputGrammar.Json(schema, IsStrict(null, options)) : OutputGrammar.JsonObject();
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"ChatOptions.ResponseFormat: {e.Message}", nameof(options), e);
            }
            // With tools in auto mode the response is either one wrapped tool call or the document; the tag and a
            // JSON value start differently, so the first character decides.
            var grammar = format == ToolCallFormat.Hermes
                ? CallGrammar(tools, options, format, HermesOpen, HermesClose).Or(document)
                : document;
            return new OutputStructure(resources, grammar, format, forcedCall: false, "");
        }
        return new OutputStructure(resources, null, format, forcedCall: false, "");
    }

    private static OutputGrammar CallGrammar(IReadOnlyList<AIFunctionDeclaration> functions, ChatOptions? options, ToolCallFormat format, string prefix, string suffix)
    {
        var argumentsKey = format == ToolCallFormat.LlamaJson ? "parameters" : "arguments";
        try
        {
            return OutputGrammar.FunctionCall(
                functions.Select(f => new FunctionSchema(f.Name, f.JsonSchema, IsStrict(f, options))).ToList(), argumentsKey, prefix, suffix);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"ChatOptions.Tools: {e.Message}", nameof(options), e);
        }
    }

    /// <summary>Strict unless the function, or else the options, say <c>strictJsonSchema = false</c>.</summary>
    private static bool IsStrict(AIFunctionDeclaration? function, ChatOptions? options) =>
        ReadStrict(function?.AdditionalProperties) ?? ReadStrict(options?.AdditionalProperties) ?? true;

    private static bool? ReadStrict(IReadOnlyDictionary<string, object?>? properties) =>
        properties?.TryGetValue(StrictKey, out var value) == true ? value switch
        {
            bool b => b,
            string s when bool.TryParse(s, out var b) => b,
            System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.True } => true,
            System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.False } => false,
            _ => null,
        } : null;

    /// <summary>The constraint for this request, closing the output within <paramref name="tokenBudget"/> tokens
    /// (raised to the shortest complete output if that is longer: see <see cref="JsonLogitsProcessor.TokenBudget"/>).</summary>
    public ILogitsProcessor? CreateLogitsProcessor(int tokenBudget)
    {
        if (_grammar is null) return null;
        Constraint = new JsonLogitsProcessor(_resources.JsonVocabulary, _grammar, _resources.EosTokenIds, tokenBudget);
        return Constraint;
    }

    public IToolCallExtractor? CreateToolCallExtractor() =>
        _toolFormat == ToolCallFormat.None ? null : new ToolCallExtractor(ToolCallParsers.Create(_toolFormat), AssistantPrefix);

    /// <summary>A forced call is the whole response: once it is parsed, generation can stop.</summary>
    public bool IsCompleteAfterForcedCall(int calls) => ForcedToolCall && calls > 0;

    /// <summary>Adapts the streaming tool-call parser; a forced call's opening tag (in the prompt) is replayed first.</summary>
    private sealed class ToolCallExtractor : IToolCallExtractor
    {
        private readonly IToolCallParser _parser;
        private string _prefix;

        public ToolCallExtractor(IToolCallParser parser, string prefix)
        {
            _parser = parser;
            _prefix = prefix;
        }

        public IEnumerable<object> Append(string text)
        {
            var chunk = _prefix + text;
            _prefix = "";
            return Convert(_parser.Append(chunk));
        }

        public IEnumerable<object> Flush() => Convert(_parser.Append(_prefix).Concat(_parser.Flush()).ToList());

        private static IEnumerable<object> Convert(IEnumerable<ToolCallParseEvent> events) =>
            events.Select(e => e.FunctionCall is { } call ? (object)call : e.Text ?? "");
    }
}
