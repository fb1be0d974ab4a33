using System.Collections;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// Puts the layer-skip choice into <see cref="ChatOptions.AdditionalProperties"/> as plain values
/// (<c>layerskip.speedup_ratio</c>, <c>layerskip.policy</c>, <c>layerskip.layers</c>), so requests built from
/// JSON or configuration carry it as well as requests built in code.
/// </summary>
public static class ChatOptionsLayerSkipExtensions
{
    /// <summary>Asks for a decode speedup of <paramref name="speedupRatio"/> with <paramref name="policy"/>; returns the same options.</summary>
    public static ChatOptions WithLayerSkip(this ChatOptions options, double speedupRatio, SkipPolicy policy = SkipPolicy.Unified)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!double.IsFinite(speedupRatio) || speedupRatio < 1)
            throw new ArgumentOutOfRangeException(nameof(speedupRatio), speedupRatio, "The speedup ratio must be a finite number ≥ 1.");
        var props = options.AdditionalProperties ??= new AdditionalPropertiesDictionary();
        props[LayerSkipPropertyNames.SpeedupRatio] = speedupRatio;
        props[LayerSkipPropertyNames.Policy] = policy.ToString();
        if (policy != SkipPolicy.Explicit) props.Remove(LayerSkipPropertyNames.Layers);
        return options;
    }

    /// <summary>
    /// Exact output at skipping speed: the plan for <paramref name="speedupRatio"/> drafts tokens and one full-depth
    /// pass verifies them. Returns the same options.
    /// </summary>
    public static ChatOptions WithSpeculativeDecoding(this ChatOptions options, double speedupRatio = 2.0, SkipPolicy policy = SkipPolicy.Unified)
    {
        options.WithLayerSkip(speedupRatio, policy);
        options.AdditionalProperties![LayerSkipPropertyNames.Mode] = "speculative";
        return options;
    }

    /// <summary>Runs exactly the given layers for each decoded token (the Explicit policy); returns the same options.</summary>
    public static ChatOptions WithLayerSkipLayers(this ChatOptions options, params int[] layers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Length == 0) throw new ArgumentException("At least one layer must be kept.", nameof(layers));
        var props = options.AdditionalProperties ??= new AdditionalPropertiesDictionary();
        props[LayerSkipPropertyNames.Policy] = SkipPolicy.Explicit.ToString();
        props[LayerSkipPropertyNames.Layers] = layers.ToArray();
        props.Remove(LayerSkipPropertyNames.SpeedupRatio);
        return options;
    }

    /// <summary>The layer-skip choice carried by these options, or null when they carry none.</summary>
    /// <exception cref="ArgumentException">A value is present but invalid; the message names its key.</exception>
    public static LayerSkipSettings? GetLayerSkip(this ChatOptions? options)
    {
        var props = options?.AdditionalProperties;
        if (props is null) return null;
        var hasRatio = props.TryGetValue(LayerSkipPropertyNames.SpeedupRatio, out var ratioValue) && ratioValue is not null;
        var hasPolicy = props.TryGetValue(LayerSkipPropertyNames.Policy, out var policyValue) && policyValue is not null;
        var hasLayers = props.TryGetValue(LayerSkipPropertyNames.Layers, out var layersValue) && layersValue is not null;
        var hasMode = props.TryGetValue(LayerSkipPropertyNames.Mode, out var modeValue) && modeValue is not null;
        if (!hasRatio && !hasPolicy && !hasLayers && !hasMode) return null;

        var ratio = hasRatio ? ReadRatio(ratioValue!) : 1.0;
        var layers = hasLayers ? ReadLayers(layersValue!) : null;
        var policy = hasPolicy ? ReadPolicy(policyValue!) : layers is not null ? SkipPolicy.Explicit : SkipPolicy.Unified;
        if (policy == SkipPolicy.Explicit && layers is null)
            throw new ArgumentException($"The Explicit skip policy needs the layer list '{LayerSkipPropertyNames.Layers}'.", LayerSkipPropertyNames.Layers);
        return new LayerSkipSettings(ratio, policy, layers, hasMode ? ReadMode(modeValue!) : LayerSkipMode.Skip);
    }


    /// <summary>
    /// The request's choice (<paramref name="explicitSettings"/>, as <see cref="GetLayerSkip"/> read it from
    /// <paramref name="options"/>) with the client's defaults filling what it leaves out.
    /// </summary>
    internal static LayerSkipSettings ResolveLayerSkip(this ChatOptions? options, LayerSkipSettings? explicitSettings, LayerSkipOptions defaults)
    {
        if (explicitSettings is null) return new LayerSkipSettings(defaults.DefaultSpeedupRatio, defaults.DefaultSkipPolicy);
        var props = options!.AdditionalProperties!;
        var ratio = props.ContainsKey(LayerSkipPropertyNames.SpeedupRatio) ? explicitSettings.SpeedupRatio : defaults.DefaultSpeedupRatio;
        var policy = props.ContainsKey(LayerSkipPropertyNames.Policy) || explicitSettings.Layers is not null
            ? explicitSettings.Policy : defaults.DefaultSkipPolicy;
        return explicitSettings with { SpeedupRatio = ratio, Policy = policy };
    }

    private static double ReadRatio(object value)
    {
        double? ratio = value switch
        {
            _ when Number(value) is { } n => n,
            string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) => p,
            JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
            JsonElement { ValueKind: JsonValueKind.String } e when double.TryParse(e.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var p) => p,
            _ => null,
        };
        if (ratio is not { } r || !double.IsFinite(r) || r < 1)
            throw new ArgumentException($"'{LayerSkipPropertyNames.SpeedupRatio}' must be a finite number ≥ 1, got '{Describe(value)}'.", LayerSkipPropertyNames.SpeedupRatio);
        return r;
    }

    private static SkipPolicy ReadPolicy(object value) =>
        ReadEnum<SkipPolicy>(value, LayerSkipPropertyNames.Policy, $"one of {string.Join(", ", Enum.GetNames<SkipPolicy>())}");

    private static LayerSkipMode ReadMode(object value) =>
        ReadEnum<LayerSkipMode>(value, LayerSkipPropertyNames.Mode, "'skip' or 'speculative'");

    /// <summary>An enum member by name (case-insensitive, '-' and '_' ignored), from an enum, a string or a JSON string.</summary>
    private static TEnum ReadEnum<TEnum>(object value, string key, string expected) where TEnum : struct, Enum
    {
        var name = value switch
        {
            TEnum e => e.ToString(),
            string s => s,
            JsonElement { ValueKind: JsonValueKind.String } e => e.GetString(),
            _ => null,
        };
        var normalized = name?.Replace("-", "").Replace("_", "").Trim();
        if (normalized is not null && !int.TryParse(normalized, out _) && Enum.TryParse<TEnum>(normalized, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed))
            return parsed;
        throw new ArgumentException($"'{key}' must be {expected}, got '{Describe(value)}'.", key);
    }

    private static IReadOnlyList<int> ReadLayers(object value)
    {
        try
        {
            IEnumerable<object?> items = value switch
            {
                JsonElement { ValueKind: JsonValueKind.Array } e => e.EnumerateArray().Select(x => (object?)x),
                string => throw new FormatException(),
                IEnumerable list => list.Cast<object?>(),
                _ => throw new FormatException(),
            };
            var layers = items.Select(x => x switch
            {
                JsonElement { ValueKind: JsonValueKind.Number } e => e.GetInt32(),
                _ when Number(x) is { } d && d == Math.Floor(d) => checked((int)d),
                _ => throw new FormatException(),
            }).ToArray();
            if (layers.Length == 0) throw new FormatException();
            return layers;
        }
        catch (Exception e) when (e is FormatException or OverflowException or InvalidOperationException)
        {
            throw new ArgumentException($"'{LayerSkipPropertyNames.Layers}' must be a non-empty array of layer indices, got '{Describe(value)}'.", LayerSkipPropertyNames.Layers);
        }
    }

    /// <summary>The value of a number of any CLR numeric type (or a JSON number), or null for anything else.</summary>
    private static double? Number(object? value) => value switch
    {
        byte or sbyte or short or ushort or int or uint or long or ulong or float or double or decimal =>
            Convert.ToDouble(value, CultureInfo.InvariantCulture),
        Half h => (double)h,
        JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
        _ => null,
    };

    /// <summary>A value as an error message shows it: JSON as written, lists as [a, b], numbers invariantly.</summary>
    private static string Describe(object? value) => value switch
    {
        null => "null",
        JsonElement e => e.GetRawText(),
        string s => s,
        IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(Describe)) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
