using System.Text.Json;
using System.Text.Json.Nodes;

namespace LayerSkip.Engine.Loading;

/// <summary>
/// Typed reads of a JSON object from a model folder's file (config.json, generation_config.json): a value of the
/// wrong type or out of range is a <see cref="ModelLoadException"/> naming the file and the field, never a raw
/// JSON exception. A field given as null reads as absent.
/// </summary>
internal sealed class JsonFields
{
    private readonly JsonObject _root;
    private readonly string _fileName;

    public JsonFields(JsonObject root, string source)
    {
        _root = root;
        Source = source;
        _fileName = System.IO.Path.GetFileName(source) is { Length: > 0 } name ? name : source;
    }

    /// <summary>The path (or name) of the file, as errors name it.</summary>
    public string Source { get; }

    /// <summary>Parses <paramref name="json"/> as a JSON object, or fails naming <paramref name="source"/>.</summary>
    public static JsonFields Parse(string json, string source)
    {
        var name = System.IO.Path.GetFileName(source) is { Length: > 0 } n ? n : source;
        try
        {
            return JsonNode.Parse(json) is JsonObject o
                ? new JsonFields(o, source)
                : throw new ModelLoadException($"{name} is not a JSON object", source);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{name} is not valid JSON: {e.Message}", source, e);
        }
    }

    public JsonNode? this[string key] => _root[key];

    public ModelLoadException Error(string problem) => new($"{_fileName}: {problem}", Source);

    private JsonValue? Value(string key, string expected)
    {
        var node = _root[key];
        if (node is null) return null;
        return node as JsonValue ?? throw Error($"'{key}' must be {expected}, got {Describe(node)}");
    }

    public string? String(string key)
    {
        var v = Value(key, "a string");
        if (v is null) return null;
        return v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Error($"'{key}' must be a string, got {Describe(v)}");
    }

    public bool? Bool(string key)
    {
        var v = Value(key, "true or false");
        if (v is null) return null;
        return v.GetValueKind() switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"'{key}' must be true or false, got {Describe(v)}"),
        };
    }

    public double? Double(string key, double min = double.MinValue, double max = double.MaxValue, bool exclusiveMin = false)
    {
        var v = Value(key, "a number");
        if (v is null) return null;
        if (v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue<double>(out var d) || !double.IsFinite(d))
            throw Error($"'{key}' must be a finite number, got {Describe(v)}");
        if (d < min || d > max || (exclusiveMin && d == min))
            throw Error($"'{key}' is {d}, outside the plausible range {(exclusiveMin ? "(" : "[")}{min}, {max}]");
        return d;
    }

    public int? Int(string key, long min = int.MinValue, long max = int.MaxValue)
    {
        var v = Value(key, "an integer");
        if (v is null) return null;
        return Integer(v, key, min, max);
    }

    public int RequiredInt(string key, long min, long max) =>
        Int(key, min, max) ?? throw Error($"needs the integer '{key}'");

    /// <summary>An id or a list of ids (eos_token_id may be either).</summary>
    public IReadOnlyList<int> Ids(string key)
    {
        var node = _root[key];
        return node switch
        {
            null => [],
            JsonArray a => a.Select((x, i) => x is JsonValue v
                ? Integer(v, $"{key}[{i}]", 0, int.MaxValue)
                : throw Error($"'{key}[{i}]' must be a token id, got {Describe(x)}")).ToArray(),
            JsonValue v => [Integer(v, key, 0, int.MaxValue)],
            _ => throw Error($"'{key}' must be a token id or a list of ids, got {Describe(node)}"),
        };
    }

    private int Integer(JsonValue v, string key, long min, long max)
    {
        // Integral floats (4096.0) are accepted: some exporters write every number as a float.
        if (v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue<double>(out var d) || d != Math.Floor(d) || !double.IsFinite(d))
            throw Error($"'{key}' must be an integer, got {Describe(v)}");
        if (d < min || d > max)
            throw Error($"'{key}' is {d}, outside the plausible range [{min}, {max}]");
        return (int)d;
    }

    /// <summary>A short, safe description of a JSON value for an error message.</summary>
    private static string Describe(JsonNode? node)
    {
        if (node is null) return "null";
        var kind = node.GetValueKind();
        var text = node.ToJsonString();
        if (text.Length > 40) text = text[..40] + "…";
        return kind switch
        {
            JsonValueKind.String => $"the string {text}",
            JsonValueKind.Number => $"the number {text}",
            JsonValueKind.Array => $"the array {text}",
            JsonValueKind.Object => "an object",
            _ => text,
        };
    }
}
