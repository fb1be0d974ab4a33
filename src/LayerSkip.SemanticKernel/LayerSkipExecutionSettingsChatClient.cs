using LayerSkip.Extensions.AI;
using Microsoft.Extensions.AI;

namespace LayerSkip.SemanticKernel;

/// <summary>
/// Renames the Semantic Kernel execution-setting names that arrive in <see cref="ChatOptions.AdditionalProperties"/>
/// (<c>speedup_ratio</c>, <c>skip_policy</c>, <c>layers</c>, <c>skip_mode</c>, from
/// <see cref="Microsoft.SemanticKernel.PromptExecutionSettings.ExtensionData"/>) to the client's <c>layerskip.*</c>
/// keys. A <c>layerskip.*</c> key already present wins. The caller's options are never modified.
/// The response's <see cref="LayerSkipInfo"/> stays on the response and is also written onto its last message,
/// which Semantic Kernel shows as <c>ChatMessageContent.Metadata</c> (read it with
/// <see cref="LayerSkipChatMessageContentExtensions.GetLayerSkipInfo"/>).
/// </summary>
public sealed class LayerSkipExecutionSettingsChatClient(IChatClient innerClient) : DelegatingChatClient(innerClient)
{
    /// <summary>Execution-setting name → <see cref="ChatOptions.AdditionalProperties"/> key of <see cref="LayerSkipChatClient"/>.</summary>
    public static IReadOnlyDictionary<string, string> KeyMap { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        [LayerSkipPromptExecutionSettings.SpeedupRatioKey] = LayerSkipPropertyNames.SpeedupRatio,
        [LayerSkipPromptExecutionSettings.SkipPolicyKey] = LayerSkipPropertyNames.Policy,
        [LayerSkipPromptExecutionSettings.LayersKey] = LayerSkipPropertyNames.Layers,
        [LayerSkipPromptExecutionSettings.ModeKey] = LayerSkipPropertyNames.Mode,
        [LayerSkipPromptExecutionSettings.DraftTokensKey] = LayerSkipPropertyNames.DraftTokens,
        [LayerSkipPromptExecutionSettings.DraftPrecisionKey] = LayerSkipPropertyNames.DraftPrecision,
        [LayerSkipPromptExecutionSettings.DraftSourceKey] = LayerSkipPropertyNames.DraftSource,
    };

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var response = await base.GetResponseAsync(messages, Map(options), cancellationToken).ConfigureAwait(false);
        if (response.GetLayerSkipInfo() is { } info && response.Messages.Count > 0)
            info.WriteTo(response.Messages[^1].AdditionalProperties ??= []);
        return response;
    }

    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetStreamingResponseAsync(messages, Map(options), cancellationToken);

    /// <summary>The options with the execution-setting names mapped (a clone when anything changes).</summary>
    public static ChatOptions? Map(ChatOptions? options)
    {
        if (options?.AdditionalProperties is not { Count: > 0 } props || !props.Keys.Any(KeyMap.ContainsKey)) return options;
        var clone = options.Clone();
        var target = clone.AdditionalProperties!;
        foreach (var key in props.Keys.Where(KeyMap.ContainsKey).ToList())
        {
            var value = target[key];
            target.Remove(key);
            var mapped = KeyMap[key];
            if (!target.ContainsKey(mapped) && value is not null) target[mapped] = value;
        }
        return clone;
    }
}
