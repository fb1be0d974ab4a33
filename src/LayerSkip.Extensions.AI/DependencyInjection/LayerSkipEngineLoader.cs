using LayerSkip.Engine.Generation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace LayerSkip.Extensions.AI.DependencyInjection;

/// <summary>
/// Loads every registered engine when the host starts, so the first request does not pay for loading the model.
/// The engines are container singletons: the container disposes them when the host is disposed.
/// </summary>
internal sealed class LayerSkipEngineLoader(IServiceProvider services, IEnumerable<LayerSkipEngineRegistration> registrations) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var registration in registrations.DistinctBy(r => r.ServiceKey ?? DefaultKey.Instance))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Run(() => registration.ServiceKey is null
                ? services.GetRequiredService<InferenceEngine>()
                : services.GetRequiredKeyedService<InferenceEngine>(registration.ServiceKey), cancellationToken).ConfigureAwait(false);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private sealed class DefaultKey { public static readonly DefaultKey Instance = new(); }
}
