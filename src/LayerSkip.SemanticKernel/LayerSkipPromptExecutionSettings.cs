using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using LayerSkip.Extensions.AI;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;

namespace LayerSkip.SemanticKernel;

/// <summary>
/// Prompt execution settings with the layer-skip choice of a request. Unset values fall back to the client's
/// <see cref="LayerSkipOptions"/>. Plain <see cref="PromptExecutionSettings"/> work too: put <c>speedup_ratio</c>,
/// <c>skip_policy</c>, <c>layers</c> or <c>skip_mode</c> in <see cref="PromptExecutionSettings.ExtensionData"/>
/// (the same JSON names these properties use, e.g. in a prompt template's <c>execution_settings</c>).
/// </summary>
public sealed class LayerSkipPromptExecutionSettings : PromptExecutionSettings
{
    /// <summary>ExtensionData / JSON name of <see cref="SpeedupRatio"/>.</summary>
    public const string SpeedupRatioKey = "speedup_ratio";
    /// <summary>ExtensionData / JSON name of <see cref="SkipPolicy"/>.</summary>
    public const string SkipPolicyKey = "skip_policy";
    /// <summary>ExtensionData / JSON name of <see cref="Layers"/>.</summary>
    public const string LayersKey = "layers";
    /// <summary>ExtensionData / JSON name of <see cref="Mode"/>.</summary>
    public const string ModeKey = "skip_mode";

    private double? _speedupRatio;
    private SkipPolicy? _skipPolicy;
    private IList<int>? _layers;
    private LayerSkipMode? _mode;

    /// <summary>Target decode speedup r ≥ 1 (<c>layerskip.speedup_ratio</c>).</summary>
    [JsonPropertyName(SpeedupRatioKey)]
    public double? SpeedupRatio
    {
        get => _speedupRatio;
        set
        {
            ThrowIfFrozen();
            if (value is { } r && (!double.IsFinite(r) || r < 1))
                throw new ArgumentOutOfRangeException(nameof(SpeedupRatio), r, "The speedup ratio must be a finite number ≥ 1.");
            _speedupRatio = value;
        }
    }

    /// <summary>The skip policy (<c>layerskip.policy</c>).</summary>
    [JsonPropertyName(SkipPolicyKey)]
    [JsonConverter(typeof(JsonStringEnumConverter<SkipPolicy>))]
    public SkipPolicy? SkipPolicy
    {
        get => _skipPolicy;
        set { ThrowIfFrozen(); _skipPolicy = value; }
    }

    /// <summary>The layers each decoded token runs, for <see cref="Extensions.AI.SkipPolicy.Explicit"/> (<c>layerskip.layers</c>).</summary>
    [JsonPropertyName(LayersKey)]
    public IList<int>? Layers
    {
        get => _layers;
        set { ThrowIfFrozen(); _layers = value; }
    }

    /// <summary><see cref="LayerSkipMode.Skip"/> or <see cref="LayerSkipMode.Speculative"/> (<c>layerskip.mode</c>).</summary>
    [JsonPropertyName(ModeKey)]
    [JsonConverter(typeof(JsonStringEnumConverter<LayerSkipMode>))]
    public LayerSkipMode? Mode
    {
        get => _mode;
        set { ThrowIfFrozen(); _mode = value; }
    }

    public override void Freeze()
    {
        if (IsFrozen) return;
        if (_layers is not null) _layers = _layers.ToArray().AsReadOnly();
        base.Freeze();
    }

    public override PromptExecutionSettings Clone() => new LayerSkipPromptExecutionSettings
    {
        ServiceId = ServiceId,
        ModelId = ModelId,
        FunctionChoiceBehavior = FunctionChoiceBehavior,
        ExtensionData = ExtensionData is null ? null : new Dictionary<string, object>(ExtensionData),
        SpeedupRatio = SpeedupRatio,
        SkipPolicy = SkipPolicy,
        Layers = Layers?.ToList(),
        Mode = Mode,
    };

    /// <summary>Writes the layer-skip choice into the request's <c>layerskip.*</c> keys.</summary>
    protected override void PrepareChatOptionsForRequest(ChatOptions options)
    {
        base.PrepareChatOptionsForRequest(options);
        var props = options.AdditionalProperties ??= [];
        if (SpeedupRatio is { } ratio) props[LayerSkipPropertyNames.SpeedupRatio] = ratio;
        if (SkipPolicy is { } policy) props[LayerSkipPropertyNames.Policy] = policy.ToString();
        if (Layers is { } layers) props[LayerSkipPropertyNames.Layers] = layers.ToArray();
        if (Mode is { } mode) props[LayerSkipPropertyNames.Mode] = mode.ToString().ToLowerInvariant();
        foreach (var key in new[] { SpeedupRatioKey, SkipPolicyKey, LayersKey, ModeKey }) props.Remove(key);
    }

    /// <summary>
    /// Typed settings from any <see cref="PromptExecutionSettings"/>: returns <paramref name="settings"/> itself when it
    /// already is one, else a copy whose layer-skip values come from its ExtensionData.
    /// </summary>
    public static LayerSkipPromptExecutionSettings FromExecutionSettings(PromptExecutionSettings? settings)
    {
        if (settings is LayerSkipPromptExecutionSettings typed) return typed;
        var result = new LayerSkipPromptExecutionSettings();
        if (settings is null) return result;
        result.ServiceId = settings.ServiceId;
        result.ModelId = settings.ModelId;
        result.FunctionChoiceBehavior = settings.FunctionChoiceBehavior;
        if (settings.ExtensionData is { } data)
        {
            var rest = new Dictionary<string, object>(data, StringComparer.OrdinalIgnoreCase);
            var key = "";
            try
            {
                if (Take(rest, key = SpeedupRatioKey) is { } ratio)
                    result.SpeedupRatio = ratio switch
                    {
                        JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
                        JsonElement { ValueKind: JsonValueKind.String } e => double.Parse(e.GetString()!, CultureInfo.InvariantCulture),
                        string s => double.Parse(s, CultureInfo.InvariantCulture),
                        _ => Convert.ToDouble(ratio, CultureInfo.InvariantCulture),
                    };
                if (Take(rest, key = SkipPolicyKey) is { } policy)
                    result.SkipPolicy = Enum.Parse<SkipPolicy>(Text(policy).Replace("-", "").Replace("_", ""), ignoreCase: true);
                if (Take(rest, key = ModeKey) is { } mode)
                    result.Mode = Enum.Parse<LayerSkipMode>(Text(mode), ignoreCase: true);
                if (Take(rest, key = LayersKey) is { } layers)
                    result.Layers = layers switch
                    {
                        JsonElement { ValueKind: JsonValueKind.Array } e => e.EnumerateArray().Select(x => x.GetInt32()).ToList(),
                        System.Collections.IEnumerable list when layers is not string => list.Cast<object>().Select(x => Convert.ToInt32(x, CultureInfo.InvariantCulture)).ToList(),
                        _ => throw new ArgumentException($"'{LayersKey}' must be an array of layer indices.", nameof(settings)),
                    };
            }
            catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException or InvalidOperationException
                                      || e is ArgumentException { ParamName: not nameof(settings) })
            {
                throw new ArgumentException($"'{key}' has an invalid value: {e.Message}", nameof(settings), e);
            }
            result.ExtensionData = rest.Count > 0 ? rest : null;
        }
        return result;

        static object? Take(Dictionary<string, object> d, string key) => d.Remove(key, out var v) ? v : null;
        static string Text(object v) => v is JsonElement e ? e.ToString() : v.ToString() ?? "";
    }
}
