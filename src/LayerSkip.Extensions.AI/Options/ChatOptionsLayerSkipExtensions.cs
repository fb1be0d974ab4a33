using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// Puts the layer-skip choice into <see cref="ChatOptions.AdditionalProperties"/> as plain values
/// (<c>layerskip.speedup_ratio</c>, <c>.policy</c>, <c>.layers</c>, <c>.mode</c>, <c>.draft_tokens</c>), so requests
/// built from JSON or configuration carry it as well as requests built in code. Reading and writing go through the
/// engine's <see cref="LayerSkipProperties"/> codec.
/// </summary>
public static class ChatOptionsLayerSkipExtensions
{
    /// <summary>Asks for a decode speedup of <paramref name="speedupRatio"/> with <paramref name="policy"/>; returns the same options.</summary>
    public static ChatOptions WithLayerSkip(this ChatOptions options, double speedupRatio, LayerPolicy policy = LayerPolicy.Unified)
    {
        ArgumentNullException.ThrowIfNull(options);
        var props = options.AdditionalProperties ??= new AdditionalPropertiesDictionary();
        LayerSkipProperties.Write(new LayerSkipRequest { SpeedupRatio = speedupRatio, Policy = policy }, props);
        if (policy != LayerPolicy.Explicit) props.Remove(LayerSkipProperties.Layers);
        return options;
    }

    /// <summary>
    /// Exact output at skipping speed: the plan for <paramref name="speedupRatio"/> drafts up to
    /// <paramref name="draftTokens"/> tokens (null: adaptive, up to 6) and one full-depth pass verifies them.
    /// Returns the same options.
    /// </summary>
    public static ChatOptions WithSpeculativeDecoding(this ChatOptions options, double speedupRatio = 2.0, LayerPolicy policy = LayerPolicy.Unified, int? draftTokens = null)
    {
        options.WithLayerSkip(speedupRatio, policy);
        LayerSkipProperties.Write(new LayerSkipRequest { Mode = LayerSkipMode.Speculative, DraftTokens = draftTokens }, options.AdditionalProperties!);
        return options;
    }

    /// <summary>
    /// Speculative drafts at <paramref name="precision"/> (int8 or int4 copies of the model's weights; None: its own),
    /// combined with whatever plan the options ask for (speedup 1 drafts with every layer). Sets speculative mode;
    /// returns the same options.
    /// </summary>
    public static ChatOptions WithDraftPrecision(this ChatOptions options, WeightFormat precision)
    {
        ArgumentNullException.ThrowIfNull(options);
        var props = options.AdditionalProperties ??= new AdditionalPropertiesDictionary();
        LayerSkipProperties.Write(new LayerSkipRequest { Mode = LayerSkipMode.Speculative, DraftPrecision = precision }, props);
        return options;
    }

    /// <summary>
    /// Speculative drafts copied from the context (prompt lookup): the tokens that followed the latest earlier
    /// occurrence of the last few tokens, verified by one full-depth pass. No draft model runs, so any plan is ignored;
    /// it pays where the output repeats the prompt (quoting, editing, extraction). Sets speculative mode; returns the same options.
    /// </summary>
    public static ChatOptions WithLookupDrafts(this ChatOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var props = options.AdditionalProperties ??= new AdditionalPropertiesDictionary();
        LayerSkipProperties.Write(new LayerSkipRequest { Mode = LayerSkipMode.Speculative, DraftSource = DraftSource.Lookup }, props);
        return options;
    }

    /// <summary>Runs exactly the given layers for each decoded token (the Explicit policy); returns the same options.</summary>
    public static ChatOptions WithLayerSkipLayers(this ChatOptions options, params int[] layers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(layers);
        var props = options.AdditionalProperties ??= new AdditionalPropertiesDictionary();
        LayerSkipProperties.Write(new LayerSkipRequest { Policy = LayerPolicy.Explicit, Layers = layers }, props);
        props.Remove(LayerSkipProperties.SpeedupRatio);
        return options;
    }

    /// <summary>The layer-skip choice carried by these options, or null when they carry none.</summary>
    /// <exception cref="ArgumentException">A value is present but invalid; the message names its key.</exception>
    public static LayerSkipRequest? GetLayerSkip(this ChatOptions? options) => LayerSkipProperties.Read(options?.AdditionalProperties);
}
