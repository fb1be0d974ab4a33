using LayerSkip.Engine.Skipping;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// Keys of <c>ChatOptions.AdditionalProperties</c> (the request keys are the engine's <see cref="LayerSkipProperties"/>,
/// read and written by that one codec) and of response <c>AdditionalProperties</c> (read by
/// <see cref="LayerSkipResponseExtensions.GetLayerSkipInfo(Microsoft.Extensions.AI.ChatResponse)"/>).
/// </summary>
public static class LayerSkipPropertyNames
{
    /// <summary>Target decode speedup r ≥ 1 (a number).</summary>
    public const string SpeedupRatio = LayerSkipProperties.SpeedupRatio;
    /// <summary>Layer policy name, case-insensitive (a string): a <see cref="LayerPolicy"/> member name.</summary>
    public const string Policy = LayerSkipProperties.Policy;
    /// <summary>Layer indices for the Explicit policy (an int array).</summary>
    public const string Layers = LayerSkipProperties.Layers;
    /// <summary><c>skip</c> (default: decode with the plan) or <c>speculative</c> (the plan drafts, full depth verifies: exact output).</summary>
    public const string Mode = LayerSkipProperties.Mode;
    /// <summary>Speculative mode: the most tokens drafted per full-depth pass.</summary>
    public const string DraftTokens = LayerSkipProperties.DraftTokens;
    /// <summary>Speculative mode: the precision drafts run at, <c>none</c> (the model's own weights), <c>int8</c> or <c>int4</c>.</summary>
    public const string DraftPrecision = LayerSkipProperties.DraftPrecision;
    /// <summary>Speculative mode: where drafts come from, <c>model</c> (the plan drafts, the default) or <c>lookup</c> (copied from the context: no draft model, no plan).</summary>
    public const string DraftSource = LayerSkipProperties.DraftSource;
    /// <summary>In speculative responses: the share of drafted tokens the full model accepted.</summary>
    public const string AcceptanceRate = "layerskip.acceptance_rate";
    /// <summary>In speculative responses: generated tokens per full-depth pass (the compute saved, before draft costs).</summary>
    public const string TokensPerFullPass = "layerskip.tokens_per_full_pass";
    /// <summary>In Router-policy responses: the share of (token, layer) pairs the routers ran, over the engine's lifetime.</summary>
    public const string RouterExecutionRate = "layerskip.router_execution_rate";
    /// <summary>In responses: the layers each decoded token ran.</summary>
    public const string KeptLayers = "layerskip.kept_layers";
    /// <summary>
    /// In responses: bytes of key/value cache the engine held when the response finished (every decode group's cache,
    /// holding only the layers its plan runs, plus the prefix cache of recent prompts at full depth).
    /// </summary>
    public const string KvCacheBytes = "layerskip.kv_cache_bytes";
    /// <summary>Extra variables for the chat template (a dictionary), e.g. <c>enable_thinking</c>.</summary>
    public const string ChatTemplateKwargs = "chat_template_kwargs";
}
