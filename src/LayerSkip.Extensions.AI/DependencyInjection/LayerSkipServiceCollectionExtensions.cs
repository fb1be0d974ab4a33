using LayerSkip.Engine.Generation;
using LayerSkip.Extensions.AI;
using LayerSkip.Extensions.AI.DependencyInjection;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers a <see cref="LayerSkipChatClient"/> as the <see cref="IChatClient"/> of a service collection.
/// The engine is a container-owned singleton, loaded by a hosted service at start-up and disposed with the
/// container; the options are validated at start-up; the returned <see cref="ChatClientBuilder"/> adds middleware
/// (<c>UseFunctionInvocation()</c>, <c>UseLogging()</c>, <c>UseOpenTelemetry()</c>, <c>UseDistributedCache()</c>,
/// and the opt-in <c>UseLayerSkipMetrics()</c>).
/// </summary>
public static class LayerSkipServiceCollectionExtensions
{
    /// <summary>The configuration section <see cref="AddLayerSkipChatClient(IServiceCollection)"/> binds.</summary>
    public const string DefaultConfigSectionName = "LayerSkip";

    /// <summary>Registers the <see cref="IChatClient"/> with options set in code.</summary>
    public static ChatClientBuilder AddLayerSkipChatClient(this IServiceCollection services, Action<LayerSkipOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return Add(services, null, b => b.Configure(configure));
    }

    /// <summary>Registers the <see cref="IChatClient"/> with options bound from <paramref name="configuration"/> (e.g. the "LayerSkip" section).</summary>
    public static ChatClientBuilder AddLayerSkipChatClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return Add(services, null, b => b.Bind(configuration));
    }

    /// <summary>Registers the <see cref="IChatClient"/> with options bound from the application configuration's "LayerSkip" section.</summary>
    public static ChatClientBuilder AddLayerSkipChatClient(this IServiceCollection services) =>
        Add(services, null, b => b.BindConfiguration(DefaultConfigSectionName));

    /// <summary>Registers a keyed <see cref="IChatClient"/> (its own engine and named options) with options set in code.</summary>
    public static ChatClientBuilder AddKeyedLayerSkipChatClient(this IServiceCollection services, object serviceKey, Action<LayerSkipOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(serviceKey);
        ArgumentNullException.ThrowIfNull(configure);
        return Add(services, serviceKey, b => b.Configure(configure));
    }

    /// <summary>Registers a keyed <see cref="IChatClient"/> (its own engine and named options) bound from <paramref name="configuration"/>.</summary>
    public static ChatClientBuilder AddKeyedLayerSkipChatClient(this IServiceCollection services, object serviceKey, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(serviceKey);
        ArgumentNullException.ThrowIfNull(configuration);
        return Add(services, serviceKey, b => b.Bind(configuration));
    }

    /// <summary>
    /// The name of the <see cref="LayerSkipOptions"/> of a registration: <see cref="Options.Options.DefaultName"/> ("")
    /// without a key, else the key's string form. Use it with <c>IOptionsMonitor&lt;LayerSkipOptions&gt;.Get</c> or
    /// <c>services.Configure&lt;LayerSkipOptions&gt;(name, …)</c>.
    /// </summary>
    public static string GetOptionsName(object? serviceKey)
    {
        if (serviceKey is null) return Options.Options.DefaultName;
        var name = serviceKey as string ?? serviceKey.ToString();
        if (string.IsNullOrEmpty(name))
            throw new ArgumentException("A LayerSkip service key must have a non-empty string form (it names the key's options).", nameof(serviceKey));
        return name;
    }

    private static ChatClientBuilder Add(IServiceCollection services, object? serviceKey, Action<OptionsBuilder<LayerSkipOptions>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var name = GetOptionsName(serviceKey);
        var options = services.AddOptions<LayerSkipOptions>(name);
        configure(options);
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LayerSkipOptions>, LayerSkipOptionsValidator>());
        services.TryAddSingleton(sp => new LayerSkipMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, LayerSkipEngineLoader>());
        services.AddSingleton(new LayerSkipEngineRegistration(serviceKey, name));

        if (serviceKey is null)
        {
            services.TryAddSingleton(sp => LayerSkipEngineFactory.Create(sp, null, name));
            return services.AddChatClient(sp => CreateClient(sp, sp.GetRequiredService<InferenceEngine>(), name));
        }
        services.TryAddKeyedSingleton(serviceKey, (sp, _) => LayerSkipEngineFactory.Create(sp, serviceKey, name));
        return services.AddKeyedChatClient(serviceKey, sp => CreateClient(sp, sp.GetRequiredKeyedService<InferenceEngine>(serviceKey), name));
    }

    private static IChatClient CreateClient(IServiceProvider services, InferenceEngine engine, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<LayerSkipOptions>>().Get(name);
        // The non-owning constructor: disposing the pipeline leaves the engine to the container.
        return new LayerSkipChatClient(engine, options);
    }
}
