using LayerSkip.Engine.Generation;
using LayerSkip.Extensions.AI;
using LayerSkip.SemanticKernel;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Microsoft.SemanticKernel;

/// <summary>
/// Adds a LayerSkip <see cref="IChatCompletionService"/> to a kernel. The layer-skip speed of each call comes from
/// its execution settings (<see cref="LayerSkipPromptExecutionSettings"/>, or <c>speedup_ratio</c> /
/// <c>skip_policy</c> in ExtensionData), falling back to <see cref="LayerSkipOptions"/>.
/// </summary>
public static class LayerSkipKernelBuilderExtensions
{
    /// <summary>
    /// Loads the model of <paramref name="configure"/>'s options when the service is first resolved. The kernel's
    /// service provider owns the <see cref="LayerSkipChatClient"/> (and through it the engine).
    /// </summary>
    public static IKernelBuilder AddLayerSkipChatCompletion(this IKernelBuilder builder, Action<LayerSkipOptions> configure, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new LayerSkipOptions();
        configure(options);
        options.Validate();
        builder.Services.AddKeyedSingleton(serviceId, (_, _) => new LayerSkipChatClient(options));
        builder.Services.AddKeyedSingleton<IChatCompletionService>(serviceId,
            (sp, _) => LayerSkipChatCompletion.Create(sp.GetRequiredKeyedService<LayerSkipChatClient>(serviceId), sp));
        return builder;
    }

    /// <summary>Serves an engine that is already loaded (the caller keeps ownership of it).</summary>
    public static IKernelBuilder AddLayerSkipChatCompletion(this IKernelBuilder builder, InferenceEngine engine, LayerSkipOptions? options = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(engine);
        builder.Services.AddKeyedSingleton(serviceId, (_, _) => new LayerSkipChatClient(engine, options));
        builder.Services.AddKeyedSingleton<IChatCompletionService>(serviceId,
            (sp, _) => LayerSkipChatCompletion.Create(sp.GetRequiredKeyedService<LayerSkipChatClient>(serviceId), sp));
        return builder;
    }

    /// <summary>Serves an existing <see cref="IChatClient"/> (e.g. one from <c>AddLayerSkipChatClient</c>); the caller keeps ownership of it.</summary>
    public static IKernelBuilder AddLayerSkipChatCompletion(this IKernelBuilder builder, IChatClient chatClient, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(chatClient);
        builder.Services.AddKeyedSingleton<IChatCompletionService>(serviceId, (sp, _) => LayerSkipChatCompletion.Create(chatClient, sp));
        return builder;
    }

    /// <summary>
    /// In an application container (with <c>services.AddKernel()</c>): the <see cref="IChatCompletionService"/> over the
    /// <see cref="IChatClient"/> registered by <c>AddLayerSkipChatClient</c> (or <c>AddKeyedLayerSkipChatClient</c>
    /// with <paramref name="chatClientKey"/>), so the engine, its options and metrics stay those of the host.
    /// </summary>
    public static IServiceCollection AddLayerSkipChatCompletion(this IServiceCollection services, object? chatClientKey = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddKeyedSingleton<IChatCompletionService>(serviceId, (sp, _) => LayerSkipChatCompletion.Create(
            chatClientKey is null ? sp.GetRequiredService<IChatClient>() : sp.GetRequiredKeyedService<IChatClient>(chatClientKey), sp));
        return services;
    }
}
