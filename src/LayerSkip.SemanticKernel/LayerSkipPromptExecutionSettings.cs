using System.Text.Json.Serialization;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
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
    /// <summary>ExtensionData / JSON name of <see cref="DraftTokens"/>.</summary>
    public const string DraftTokensKey = "draft_tokens";
    /// <summary>ExtensionData / JSON name of <see cref="DraftPrecision"/>.</summary>
    public const string DraftPrecisionKey = "draft_precision";
    /// <summary>ExtensionData / JSON name of <see cref="DraftSource"/>.</summary>
    public const string DraftSourceKey = "draft_source";

    private double? _speedupRatio;
    private LayerPolicy? _skipPolicy;
    private IList<int>? _layers;
    private LayerSkipMode? _mode;
    private int? _draftTokens;
    private WeightFormat? _draftPrecision;
    private DraftSource? _draftSource;

    /// <summary>Target decode speedup r ≥ 1 (<c>layerskip.speedup_ratio</c>).</summary>
    [JsonPropertyName(SpeedupRatioKey)]
    public double? SpeedupRatio
    {
        get => _speedupRatio;
        set
        {
            ThrowIfFrozen();
            if (value is { } r) LayerPlanner.ValidateSpeedup(r, nameof(SpeedupRatio));
            _speedupRatio = value;
        }
    }

    /// <summary>The skip policy (<c>layerskip.policy</c>).</summary>
    [JsonPropertyName(SkipPolicyKey)]
    [JsonConverter(typeof(JsonStringEnumConverter<LayerPolicy>))]
    public LayerPolicy? SkipPolicy
    {
        get => _skipPolicy;
        set { ThrowIfFrozen(); _skipPolicy = value; }
    }

    /// <summary>The layers each decoded token runs, for <see cref="LayerPolicy.Explicit"/> (<c>layerskip.layers</c>).</summary>
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

    /// <summary>Speculative mode: the most tokens drafted per full-depth pass (<c>layerskip.draft_tokens</c>).</summary>
    [JsonPropertyName(DraftTokensKey)]
    public int? DraftTokens
    {
        get => _draftTokens;
        set
        {
            ThrowIfFrozen();
            if (value is < 1) throw new ArgumentOutOfRangeException(nameof(DraftTokens), value, "At least one token must be drafted.");
            _draftTokens = value;
        }
    }

    /// <summary>Speculative mode: the precision drafts run at, None, Int8 or Int4 (<c>layerskip.draft_precision</c>).</summary>
    [JsonPropertyName(DraftPrecisionKey)]
    [JsonConverter(typeof(JsonStringEnumConverter<WeightFormat>))]
    public WeightFormat? DraftPrecision
    {
        get => _draftPrecision;
        set
        {
            ThrowIfFrozen();
            if (value is { } f && !Enum.IsDefined(f)) throw new ArgumentOutOfRangeException(nameof(DraftPrecision), f, "The draft precision must be None, Int8 or Int4.");
            _draftPrecision = value;
        }
    }

    /// <summary>Speculative mode: where drafts come from, Model (the plan) or Lookup (copied from the context) (<c>layerskip.draft_source</c>).</summary>
    [JsonPropertyName(DraftSourceKey)]
    [JsonConverter(typeof(JsonStringEnumConverter<DraftSource>))]
    public DraftSource? DraftSource
    {
        get => _draftSource;
        set
        {
            ThrowIfFrozen();
            if (value is { } d && !Enum.IsDefined(d)) throw new ArgumentOutOfRangeException(nameof(DraftSource), d, "The draft source must be Model or Lookup.");
            _draftSource = value;
        }
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
        DraftTokens = DraftTokens,
        DraftPrecision = DraftPrecision,
        DraftSource = DraftSource,
    };

    /// <summary>Writes the layer-skip choice into the request's <c>layerskip.*</c> keys.</summary>
    protected override void PrepareChatOptionsForRequest(ChatOptions options)
    {
        base.PrepareChatOptionsForRequest(options);
        var props = options.AdditionalProperties ??= [];
        LayerSkipProperties.Write(ToRequest(), props);
        foreach (var key in LayerSkipExecutionSettingsChatClient.KeyMap.Keys) props.Remove(key);
    }

    /// <summary>These settings as the engine's layer-skip request (null members are left to the client's defaults).</summary>
    public LayerSkipRequest ToRequest() => new() { SpeedupRatio = SpeedupRatio, Policy = SkipPolicy, Layers = Layers?.ToArray(), Mode = Mode, DraftTokens = DraftTokens, DraftPrecision = DraftPrecision, DraftSource = DraftSource };

    /// <summary>
    /// Typed settings from any <see cref="PromptExecutionSettings"/>: returns <paramref name="settings"/> itself when it
    /// already is one, else a copy whose layer-skip values come from its ExtensionData (read by <see cref="LayerSkipProperties"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A layer-skip value is invalid; the message names its key.</exception>
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
            var mapped = new Dictionary<string, object?>();
            foreach (var (name, key) in LayerSkipExecutionSettingsChatClient.KeyMap)
                if (rest.Remove(name, out var value)) mapped[key] = value;
            LayerSkipRequest? request;
            try
            {
                request = LayerSkipProperties.Read(mapped);
            }
            catch (ArgumentException e) when (e.ParamName is { } key && LayerSkipExecutionSettingsChatClient.KeyMap.FirstOrDefault(k => k.Value == key).Key is { } name)
            {
                // Name the setting as the caller wrote it (skip_policy), not the chat-options key it maps to.
                throw new ArgumentException(e.Message.Replace($"'{key}'", $"'{name}'").Replace($" (Parameter '{key}')", ""), name, e);
            }
            if (request is not null)
            {
                result.SpeedupRatio = request.SpeedupRatio;
                result.SkipPolicy = request.Policy;
                result.Layers = request.Layers?.ToList();
                result.Mode = request.Mode;
                result.DraftTokens = request.DraftTokens;
                result.DraftPrecision = request.DraftPrecision;
                result.DraftSource = request.DraftSource;
            }
            result.ExtensionData = rest.Count > 0 ? rest : null;
        }
        return result;
    }
}
