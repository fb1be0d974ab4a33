using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tools;

/// <summary>
/// Reads tool-call JSON into <see cref="FunctionCallContent"/>s, shared by the parsers of every syntax: the
/// <c>{"name", "arguments"|"parameters"}</c> object (arguments may be a JSON-encoded string), the OpenAI shape
/// <c>{"type":"function","function":{...}}</c>, or an array of calls. What cannot be read becomes a call with
/// <see cref="FunctionCallContent.Exception"/> set, the Microsoft.Extensions.AI convention, so no raw syntax is shown.
/// </summary>
internal static class ToolCallJson
{
    private static readonly Regex NameRegex = new("\"name\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"", RegexOptions.CultureInvariant);

    public static bool TryParseCalls(string json, bool requireArguments, Func<string> callIds, out List<FunctionCallContent> calls)
    {
        calls = [];
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json.Trim()); }
        catch (JsonException) { return false; }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (!TryCreateCall(root, requireArguments, callIds, out var call)) return false;
                calls.Add(call);
                return true;
            }
            if (root.ValueKind == JsonValueKind.Array && root.GetArrayLength() > 0)
            {
                foreach (var item in root.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object || !TryCreateCall(item, requireArguments, callIds, out var call)) { calls.Clear(); return false; }
                    calls.Add(call);
                }
                return true;
            }
            return false;
        }
    }

    private static bool TryCreateCall(JsonElement obj, bool requireArguments, Func<string> callIds, out FunctionCallContent call)
    {
        call = null!;
        if (obj.TryGetProperty("function", out var fn) && fn.ValueKind == JsonValueKind.Object) obj = fn; // OpenAI shape
        if (!obj.TryGetProperty("name", out var nameEl) || nameEl.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(nameEl.GetString())) return false;
        var name = nameEl.GetString()!;
        var hasArgs = obj.TryGetProperty("arguments", out var args) || obj.TryGetProperty("parameters", out args);
        if (requireArguments && !hasArgs) return false;
        var id = callIds();
        try
        {
            call = new FunctionCallContent(id, name, ParseArguments(hasArgs ? args : default));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            call = new FunctionCallContent(id, name) { Exception = new InvalidOperationException($"The arguments of tool call '{name}' are not a JSON object: {e.Message}", e) };
        }
        return true;
    }

    private static Dictionary<string, object?> ParseArguments(JsonElement args)
    {
        switch (args.ValueKind)
        {
            case JsonValueKind.Undefined:
            case JsonValueKind.Null:
                return [];
            case JsonValueKind.Object:
                return JsonSerializer.Deserialize<Dictionary<string, object?>>(args) ?? [];
            case JsonValueKind.String:
                var s = args.GetString()!;
                if (string.IsNullOrWhiteSpace(s)) return [];
                using (var inner = JsonDocument.Parse(s))
                {
                    if (inner.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidOperationException("arguments string does not hold a JSON object");
                    return JsonSerializer.Deserialize<Dictionary<string, object?>>(inner.RootElement) ?? [];
                }
            default:
                throw new InvalidOperationException($"arguments is a JSON {args.ValueKind}");
        }
    }

    /// <summary>A call that could not be parsed: the function name when one can be recognised (else empty), no
    /// arguments, and the reason in <see cref="FunctionCallContent.Exception"/>.</summary>
    public static FunctionCallContent FailedCall(string content, Func<string> callIds)
    {
        var name = "";
        var m = NameRegex.Match(content);
        if (m.Success)
        {
            try { name = JsonSerializer.Deserialize<string>("\"" + m.Groups[1].Value + "\"") ?? m.Groups[1].Value; }
            catch (JsonException) { name = m.Groups[1].Value; }
        }
        var what = name.Length > 0 ? $"The tool call for '{name}'" : "A tool call";
        return new FunctionCallContent(callIds(), name)
        {
            Exception = new InvalidOperationException($"{what} could not be parsed as JSON: {content.Trim()}"),
        };
    }

    /// <summary>Length of the longest proper prefix of <paramref name="tag"/> that <paramref name="text"/> ends with.</summary>
    public static int PartialSuffix(string text, string tag)
    {
        for (var k = Math.Min(text.Length, tag.Length - 1); k > 0; k--)
            if (text.AsSpan(text.Length - k).SequenceEqual(tag.AsSpan(0, k))) return k;
        return 0;
    }

    public static void EmitText(List<ToolCallParseEvent> events, string text)
    {
        if (text.Length > 0) events.Add(ToolCallParseEvent.ForText(text));
    }

    /// <summary>Merges adjacent text events.</summary>
    public static List<ToolCallParseEvent> Coalesce(List<ToolCallParseEvent> events)
    {
        if (events.Count < 2) return events;
        var result = new List<ToolCallParseEvent>(events.Count);
        foreach (var e in events)
        {
            if (e.Text != null && result.Count > 0 && result[^1].Text is { } prev) result[^1] = ToolCallParseEvent.ForText(prev + e.Text);
            else result.Add(e);
        }
        return result;
    }
}
