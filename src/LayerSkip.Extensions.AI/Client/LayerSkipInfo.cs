using LayerSkip.Engine.Skipping;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// What a response ran: the plan's target ratio, policy and kept layers, the mode, and for speculative or routed
/// responses how drafting or routing went. Written to and read from the <c>layerskip.*</c> response keys here, in
/// one place, so the values read the same whether they come straight from the client, through middleware or
/// from a cache (as JSON).
/// </summary>
public sealed record LayerSkipInfo(
    double SpeedupRatio,
    LayerPolicy Policy,
    int[] KeptLayers,
    LayerSkipMode Mode = LayerSkipMode.Skip,
    double? AcceptanceRate = null,
    double? TokensPerFullPass = null,
    double? RouterExecutionRate = null,
    long? KvCacheBytes = null)
{
    /// <summary>The response keys this record is written under.</summary>
    private static readonly string[] Keys =
    [
        LayerSkipPropertyNames.SpeedupRatio, LayerSkipPropertyNames.Policy, LayerSkipPropertyNames.KeptLayers, LayerSkipPropertyNames.Mode,
        LayerSkipPropertyNames.AcceptanceRate, LayerSkipPropertyNames.TokensPerFullPass, LayerSkipPropertyNames.RouterExecutionRate,
        LayerSkipPropertyNames.KvCacheBytes,
    ];

    /// <summary>Writes the values as plain JSON-friendly values (number, policy name, int array, mode name).</summary>
    public void WriteTo(IDictionary<string, object?> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        properties[LayerSkipPropertyNames.SpeedupRatio] = SpeedupRatio;
        properties[LayerSkipPropertyNames.Policy] = Policy.ToString();
        properties[LayerSkipPropertyNames.KeptLayers] = KeptLayers.ToArray();
        if (Mode != LayerSkipMode.Skip) properties[LayerSkipPropertyNames.Mode] = LayerSkipProperties.ModeName(Mode);
        if (AcceptanceRate is { } a) properties[LayerSkipPropertyNames.AcceptanceRate] = a;
        if (TokensPerFullPass is { } t) properties[LayerSkipPropertyNames.TokensPerFullPass] = t;
        if (RouterExecutionRate is { } r) properties[LayerSkipPropertyNames.RouterExecutionRate] = r;
        if (KvCacheBytes is { } kv) properties[LayerSkipPropertyNames.KvCacheBytes] = kv;
    }

    /// <summary>The values in <paramref name="properties"/>, or null when they hold no kept layers.</summary>
    public static LayerSkipInfo? Read(IReadOnlyDictionary<string, object?>? properties)
    {
        if (properties is null || !properties.TryGetValue(LayerSkipPropertyNames.KeptLayers, out var kept) || kept is null) return null;
        object? Get(string key) => properties.TryGetValue(key, out var v) ? v : null;
        double? Number(string key) => Get(key) is { } v ? LayerSkipProperties.ReadNumber(v, key) : null;
        return new LayerSkipInfo(
            Number(LayerSkipPropertyNames.SpeedupRatio) ?? 1.0,
            Get(LayerSkipPropertyNames.Policy) is { } p ? LayerSkipProperties.ReadPolicy(p, LayerSkipPropertyNames.Policy) : LayerPolicy.None,
            LayerSkipProperties.ReadLayers(kept, LayerSkipPropertyNames.KeptLayers).ToArray(),
            Get(LayerSkipPropertyNames.Mode) is { } m ? LayerSkipProperties.ReadMode(m, LayerSkipPropertyNames.Mode) : LayerSkipMode.Skip,
            Number(LayerSkipPropertyNames.AcceptanceRate),
            Number(LayerSkipPropertyNames.TokensPerFullPass),
            Number(LayerSkipPropertyNames.RouterExecutionRate),
            Number(LayerSkipPropertyNames.KvCacheBytes) is { } kv ? (long)kv : null);
    }

    /// <summary>
    /// Moves <c>layerskip.*</c> values from the messages onto the response itself. <c>ToChatResponse</c> puts an
    /// update's AdditionalProperties on its message; the response is where callers (and every pipeline) look.
    /// </summary>
    internal static ChatResponse Lift(ChatResponse response)
    {
        foreach (var message in response.Messages)
        {
            if (message.AdditionalProperties is not { } props) continue;
            foreach (var key in Keys)
                if (props.TryGetValue(key, out var value) && props.Remove(key)) (response.AdditionalProperties ??= [])[key] = value;
            if (props.Count == 0) message.AdditionalProperties = null;
        }
        return response;
    }
}

/// <summary>Typed access to the layer-skip values of a response (<see cref="LayerSkipInfo"/>).</summary>
public static class LayerSkipResponseExtensions
{
    /// <summary>What the response ran, from <see cref="ChatResponse.AdditionalProperties"/>; null when it holds none.</summary>
    public static LayerSkipInfo? GetLayerSkipInfo(this ChatResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return LayerSkipInfo.Read(response.AdditionalProperties);
    }

    /// <summary>What the response ran, from a streamed update (the last one carries it); null on the others.</summary>
    public static LayerSkipInfo? GetLayerSkipInfo(this ChatResponseUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return LayerSkipInfo.Read(update.AdditionalProperties);
    }
}
