using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;

namespace LayerSkip.Engine.Skipping;

/// <summary>
/// The one codec between a <see cref="LayerSkipRequest"/> and a property dictionary with <c>layerskip.*</c> keys
/// (chat options, Semantic Kernel execution settings, configuration). Values are read by value from whatever
/// carried them: any .NET numeric type, a string in the invariant culture, a <see cref="JsonElement"/> or
/// <see cref="JsonNode"/>; policy and mode names are matched case-insensitively (<see cref="LayerPlanner.ParsePolicy"/>).
/// A bad value throws an <see cref="ArgumentException"/> whose message and parameter name are its key.
/// </summary>
public static class LayerSkipProperties
{
    /// <summary>Prefix of every layer-skip key.</summary>
    public const string Prefix = "layerskip.";
    /// <summary>Target decode speedup r ≥ 1 (a number).</summary>
    public const string SpeedupRatio = "layerskip.speedup_ratio";
    /// <summary>Layer policy name, case-insensitive (a string).</summary>
    public const string Policy = "layerskip.policy";
    /// <summary>Layer indices for the Explicit policy (an array of integers).</summary>
    public const string Layers = "layerskip.layers";
    /// <summary><c>skip</c> (decode with the plan, the default) or <c>speculative</c> (the plan drafts, full depth verifies).</summary>
    public const string Mode = "layerskip.mode";
    /// <summary>Speculative mode: the most tokens drafted per full-depth pass (an integer ≥ 1).</summary>
    public const string DraftTokens = "layerskip.draft_tokens";

    /// <summary>Speculative mode: the precision drafts run at, <c>none</c> (the model's own), <c>int8</c> or <c>int4</c> (a string).</summary>
    public const string DraftPrecision = "layerskip.draft_precision";

    /// <summary>Speculative mode: where drafts come from, <c>model</c> (the plan, the default) or <c>lookup</c> (copied from the context) (a string).</summary>
    public const string DraftSource = "layerskip.draft_source";

    /// <summary>The request keys, in the order they are documented.</summary>
    public static IReadOnlyList<string> RequestKeys { get; } = [SpeedupRatio, Policy, Layers, Mode, DraftTokens, DraftPrecision, DraftSource];

    /// <summary>The layer-skip request in <paramref name="properties"/>, or null when it holds none of the request keys.</summary>
    /// <exception cref="ArgumentException">A value is present but invalid; the message and parameter name are its key.</exception>
    public static LayerSkipRequest? Read(IReadOnlyDictionary<string, object?>? properties)
    {
        if (properties is null) return null;
        object? Get(string key) => properties.TryGetValue(key, out var v) ? v : null;
        var (ratio, policy, layers, mode, draft) = (Get(SpeedupRatio), Get(Policy), Get(Layers), Get(Mode), Get(DraftTokens));
        var (precision, source) = (Get(DraftPrecision), Get(DraftSource));
        if (ratio is null && policy is null && layers is null && mode is null && draft is null && precision is null && source is null) return null;

        var request = new LayerSkipRequest();
        if (ratio is not null) request = Set(SpeedupRatio, () => request with { SpeedupRatio = ReadNumber(ratio, SpeedupRatio) });
        if (layers is not null) request = Set(Layers, () => request with { Layers = ReadLayers(layers, Layers) });
        if (policy is not null) request = request with { Policy = ReadPolicy(policy, Policy) };
        if (mode is not null) request = request with { Mode = ReadMode(mode, Mode) };
        if (draft is not null) request = Set(DraftTokens, () => request with { DraftTokens = ReadInteger(draft, DraftTokens) });
        if (precision is not null) request = request with { DraftPrecision = ReadPrecision(precision, DraftPrecision) };
        if (source is not null) request = request with { DraftSource = ReadDraftSource(source, DraftSource) };
        if (request.Policy == LayerPolicy.Explicit && request.Layers is null)
            throw new ArgumentException($"The Explicit policy needs the layer list '{Layers}'.", Layers);
        return request.Policy is null && request.Layers is not null ? request with { Policy = LayerPolicy.Explicit } : request;
    }

    /// <summary>Writes the members <paramref name="request"/> sets (plain values: number, name, int array); other keys are left as they are.</summary>
    public static void Write(LayerSkipRequest request, IDictionary<string, object?> properties)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(properties);
        if (request.SpeedupRatio is { } r) properties[SpeedupRatio] = r;
        if (request.Policy is { } p) properties[Policy] = p.ToString();
        if (request.Layers is { } l) properties[Layers] = l.ToArray();
        if (request.Mode is { } m) properties[Mode] = ModeName(m);
        if (request.DraftTokens is { } d) properties[DraftTokens] = d;
        if (request.DraftPrecision is { } f) properties[DraftPrecision] = PrecisionName(f);
        if (request.DraftSource is { } s) properties[DraftSource] = DraftSourceName(s);
    }

    /// <summary>The written name of a draft precision: <c>none</c>, <c>int8</c> or <c>int4</c>.</summary>
    public static string PrecisionName(WeightFormat format) => format.ToString().ToLowerInvariant();

    /// <summary>A draft precision from a <see cref="WeightFormat"/> or its name (<c>none</c>, <c>int8</c>, <c>int4</c>, any case).</summary>
    public static WeightFormat ReadPrecision(object value, string key) => ReadEnum<WeightFormat>(value, key, "'none', 'int8' or 'int4'");

    /// <summary>The written name of a draft source: <c>model</c> or <c>lookup</c>.</summary>
    public static string DraftSourceName(DraftSource source) => source.ToString().ToLowerInvariant();

    /// <summary>A draft source from a <see cref="Generation.DraftSource"/> or its name (<c>model</c>, <c>lookup</c>, any case).</summary>
    public static DraftSource ReadDraftSource(object value, string key) => ReadEnum<DraftSource>(value, key, "'model' or 'lookup'");

    /// <summary>The written name of a mode: <c>skip</c> or <c>speculative</c>.</summary>
    public static string ModeName(LayerSkipMode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>A number, by value, from any numeric type, an invariant-culture string or a JSON number or string.</summary>
    public static double ReadNumber(object value, string key) => value switch
    {
        double d => d,
        float f => f,
        decimal m => (double)m,
        Half h => (double)h,
        byte or sbyte or short or ushort or int or uint or long or ulong => Convert.ToDouble(value, CultureInfo.InvariantCulture),
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) => p,
        JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
        JsonElement { ValueKind: JsonValueKind.String } e => ReadNumber(e.GetString()!, key),
        JsonNode node => ReadNumber(JsonSerializer.SerializeToElement(node), key),
        _ => throw Invalid(key, "a number", value),
    };

    /// <summary>A whole number, by value (3, 3L, 3.0, 3m, "3", JSON 3 all read as 3).</summary>
    public static int ReadInteger(object value, string key)
    {
        var number = value switch
        {
            string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
            decimal m => (double)m,
            _ => ReadNumber(value, key),
        };
        if (number != Math.Floor(number) || number < int.MinValue || number > int.MaxValue) throw Invalid(key, "a whole number", value);
        return (int)number;
    }

    /// <summary>A policy from a <see cref="LayerPolicy"/>, its name or a JSON string.</summary>
    public static LayerPolicy ReadPolicy(object value, string key)
    {
        if (value is LayerPolicy policy && Enum.IsDefined(policy)) return policy;
        try
        {
            return LayerPlanner.ParsePolicy(ReadName(value) ?? throw Invalid(key, "a policy name", value));
        }
        catch (ArgumentException e) when (e.ParamName != key)
        {
            throw new ArgumentException($"'{key}': {e.Message.Replace(" (Parameter 'name')", "")}", key, e);
        }
    }

    /// <summary>A mode from a <see cref="LayerSkipMode"/>, its name (<c>skip</c>, <c>speculative</c>, any case) or a JSON string.</summary>
    public static LayerSkipMode ReadMode(object value, string key) => ReadEnum<LayerSkipMode>(value, key, "'skip' or 'speculative'");

    /// <summary>A defined <typeparamref name="T"/>, or its name in any case (a string or a JSON string).</summary>
    private static T ReadEnum<T>(object value, string key, string expected) where T : struct, Enum
    {
        if (value is T known && Enum.IsDefined(known)) return known;
        var name = ReadName(value)?.Trim();
        foreach (var candidate in Enum.GetValues<T>())
            if (string.Equals(name, candidate.ToString(), StringComparison.OrdinalIgnoreCase)) return candidate;
        throw Invalid(key, expected, value);
    }

    /// <summary>A non-empty list of layer indices from any sequence of whole numbers or a JSON array.</summary>
    public static IReadOnlyList<int> ReadLayers(object value, string key)
    {
        IEnumerable<object?> items = value switch
        {
            JsonElement { ValueKind: JsonValueKind.Array } e => e.EnumerateArray().Select(x => (object?)x),
            JsonArray a => a.Select(x => (object?)x),
            string or JsonElement or JsonNode => throw Invalid(key, "a non-empty array of layer indices", value),
            IEnumerable list => list.Cast<object?>(),
            _ => throw Invalid(key, "a non-empty array of layer indices", value),
        };
        var layers = new List<int>();
        foreach (var item in items)
        {
            if (item is null or string) throw Invalid(key, "a non-empty array of layer indices", value);
            try { layers.Add(ReadInteger(item, key)); }
            catch (ArgumentException) { throw Invalid(key, "a non-empty array of layer indices", value); }
        }
        return layers.Count > 0 ? layers : throw Invalid(key, "a non-empty array of layer indices", value);
    }

    private static string? ReadName(object value) => value switch
    {
        Enum e => e.ToString(),
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString(),
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => null,
    };

    private static LayerSkipRequest Set(string key, Func<LayerSkipRequest> set)
    {
        try { return set(); }
        catch (ArgumentException e) when (e.ParamName != key)
        {
            throw new ArgumentException($"'{key}': {StripParameter(e)}", key, e);
        }
    }

    private static string StripParameter(ArgumentException e) =>
        e.ParamName is { } p ? e.Message.Replace($" (Parameter '{p}')", "").Split(Environment.NewLine)[0] : e.Message;

    private static ArgumentException Invalid(string key, string expected, object value) =>
        new($"'{key}' must be {expected}, got '{Describe(value)}'.", key);

    /// <summary>A value as an error message shows it: JSON as written, lists as [a, b], numbers invariantly.</summary>
    private static string Describe(object? value) => value switch
    {
        null => "null",
        JsonElement e => e.GetRawText(),
        JsonNode n => n.ToJsonString(),
        string s => s,
        IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(Describe)) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
