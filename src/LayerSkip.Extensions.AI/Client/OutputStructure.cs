using System.Text.Json;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Generation.Constraints;
using LayerSkip.Extensions.AI.Tools;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// What shape the response must take — free text, text that may contain tool calls, a forced tool call
/// (<see cref="ChatToolMode.RequireAny"/> or a required function), or JSON (optionally matching a schema) —
/// and the decoding aids that enforce it: a JSON constraint on sampling, and a tool-call parser on the text.
/// </summary>
internal sealed class OutputStructure
{
    private readonly ResponseDecoder.Resources _resources;
    private readonly JsonElement? _jsonSchema;
    private readonly bool _json;
    private readonly ToolCallFormat _toolFormat;

    private OutputStructure(ResponseDecoder.Resources resources, bool json, JsonElement? jsonSchema, ToolCallFormat toolFormat, bool forcedCall, string prefix)
    {
        _resources = resources;
        _json = json;
        _jsonSchema = jsonSchema;
        _toolFormat = toolFormat;
        ForcedToolCall = forcedCall;
        AssistantPrefix = prefix;
    }

    /// <summary>Text appended after the generation prompt: the opening tag of a forced tool call.</summary>
    public string AssistantPrefix { get; }

    /// <summary>The response must be exactly one tool call.</summary>
    public bool ForcedToolCall { get; }

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
            var prefix = format == ToolCallFormat.Hermes ? "<tool_call>\n" : "";
            return new OutputStructure(resources, json: true, ToolCallSchema(candidates, format), format, forcedCall: true, prefix);
        }
        return options?.ResponseFormat switch
        {
            ChatResponseFormatJson json => new OutputStructure(resources, json: true, json.Schema, format, forcedCall: false, ""),
            _ => new OutputStructure(resources, json: false, null, format, forcedCall: false, ""),
        };
    }

    /// <summary>{"name": one of the functions, "arguments"/"parameters": the function's schema when only one may be called}.</summary>
    private static JsonElement ToolCallSchema(IReadOnlyList<AIFunctionDeclaration> functions, ToolCallFormat format)
    {
        var argumentsKey = format == ToolCallFormat.LlamaJson ? "parameters" : "arguments";
        JsonNode arguments = functions.Count == 1
            ? JsonNode.Parse(functions[0].JsonSchema.GetRawText())!
            : new JsonObject { ["type"] = "object" };
        var schema = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["name"] = new JsonObject { ["enum"] = new JsonArray(functions.Select(f => (JsonNode)f.Name).ToArray()) },
                [argumentsKey] = arguments,
            },
            ["required"] = new JsonArray("name", argumentsKey),
            ["additionalProperties"] = false,
        };
        return JsonSerializer.SerializeToElement(schema);
    }

    public ILogitsProcessor? CreateLogitsProcessor() =>
        _json ? new JsonLogitsProcessor(_resources.JsonVocabulary, _jsonSchema, _resources.EosTokenIds) : null;

    public IToolCallExtractor? CreateToolCallExtractor() =>
        _toolFormat == ToolCallFormat.None ? null : new ToolCallExtractor(new ToolCallStreamParser(_toolFormat), AssistantPrefix);

    /// <summary>A forced call is the whole response: once it is parsed, generation can stop.</summary>
    public bool IsCompleteAfterForcedCall(int calls) => ForcedToolCall && calls > 0;

    /// <summary>Adapts the streaming tool-call parser; a forced call's opening tag (in the prompt) is replayed first.</summary>
    private sealed class ToolCallExtractor : IToolCallExtractor
    {
        private readonly ToolCallStreamParser _parser;
        private string _prefix;

        public ToolCallExtractor(ToolCallStreamParser parser, string prefix)
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
