using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Prompting;

/// <summary>
/// The tools section given to models whose chat template cannot show tools (no template, or a template that ignores
/// <c>tools</c>), in the format documented in docs/tools.md: a system text listing each function as a compact
/// signature (<c>get_weather(city: string, days?: integer): description</c>) and asking for calls as <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>, the
/// syntax the client parses back.
/// </summary>
internal static class ToolPrompt
{
    private static readonly JsonSerializerOptions Compact = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false };

    public static string Describe(IEnumerable<AIFunctionDeclaration> functions)
    {
        var sb = new StringBuilder();
        sb.Append("You can call these functions:\n");
        foreach (var f in functions)
        {
            sb.Append("- ").Append(f.Name).Append('(').Append(Parameters(f.JsonSchema)).Append(')');
            if (!string.IsNullOrWhiteSpace(f.Description)) sb.Append(": ").Append(f.Description.Trim());
            sb.Append('\n');
        }
        sb.Append("To call one, write <tool_call>{\"name\": \"...\", \"arguments\": {...}}</tool_call>.");
        return sb.ToString();
    }

    /// <summary>Compact signature of an object schema: <c>city: string, days?: integer</c> (optional ones marked ?).</summary>
    private static string Parameters(JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object || !schema.TryGetProperty("properties", out var props) || props.ValueKind != JsonValueKind.Object)
            return "";
        var required = schema.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.Array
            ? r.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()).ToHashSet()
            : [];
        return string.Join(", ", props.EnumerateObject().Select(p => p.Name + (required.Contains(p.Name) ? "" : "?") + ": " + TypeText(p.Value, 0)));
    }

    private static string TypeText(JsonElement s, int depth)
    {
        if (s.ValueKind != JsonValueKind.Object || depth > 4) return "any";
        if (s.TryGetProperty("enum", out var en) && en.ValueKind == JsonValueKind.Array)
            return string.Join(" | ", en.EnumerateArray().Select(v => v.GetRawText()));
        var type = s.TryGetProperty("type", out var t) ? t.ValueKind switch
        {
            JsonValueKind.String => t.GetString() ?? "any",
            JsonValueKind.Array => string.Join(" | ", t.EnumerateArray().Select(x => x.GetString())),
            _ => "any",
        } : "any";
        if (type.Contains("array") && s.TryGetProperty("items", out var items)) type = type.Replace("array", TypeText(items, depth + 1) + "[]");
        if (type.Contains("object") && s.TryGetProperty("properties", out _)) type = type.Replace("object", "{" + Parameters(s) + "}");
        return type;
    }

    /// <summary>A past call as the model is asked to write it.</summary>
    public static string Call(FunctionCallContent call) =>
        "<tool_call>\n" + JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["name"] = call.Name,
            ["arguments"] = call.Arguments ?? new Dictionary<string, object?>(),
        }, Compact) + "\n</tool_call>";

    /// <summary>The functions the prompt should describe for these options (none when tools are off).</summary>
    public static List<AIFunctionDeclaration> Functions(ChatOptions? options)
    {
        if (options?.Tools is not { Count: > 0 } tools || options.ToolMode is NoneChatToolMode) return [];
        var functions = tools.OfType<AIFunctionDeclaration>().ToList();
        if (options.ToolMode is RequiredChatToolMode { RequiredFunctionName: { } only })
            functions = functions.Where(f => f.Name == only).ToList();
        return functions;
    }
}
