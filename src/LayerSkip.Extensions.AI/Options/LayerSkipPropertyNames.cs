namespace LayerSkip.Extensions.AI;

/// <summary>Keys of <c>ChatOptions.AdditionalProperties</c> and of response <c>AdditionalProperties</c>.</summary>
public static class LayerSkipPropertyNames
{
    /// <summary>Target decode speedup r ≥ 1 (a number).</summary>
    public const string SpeedupRatio = "layerskip.speedup_ratio";
    /// <summary>Skip policy name, case-insensitive (a string).</summary>
    public const string Policy = "layerskip.policy";
    /// <summary>Layer indices for the Explicit policy (an int array).</summary>
    public const string Layers = "layerskip.layers";
    /// <summary>In responses: the layers each decoded token ran.</summary>
    public const string KeptLayers = "layerskip.kept_layers";
    /// <summary>Extra variables for the chat template (a dictionary), e.g. <c>enable_thinking</c>.</summary>
    public const string ChatTemplateKwargs = "chat_template_kwargs";
}
