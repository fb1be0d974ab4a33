using System.Diagnostics;
using LayerSkip.Engine.Generation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LayerSkip.Extensions.AI.DependencyInjection;

/// <summary>Loads the engine of one DI registration from its named <see cref="LayerSkipOptions"/>.</summary>
internal static class LayerSkipEngineFactory
{
    public static InferenceEngine Create(IServiceProvider services, object? serviceKey, string optionsName)
    {
        // Get validates (IValidateOptions) and throws OptionsValidationException naming the option.
        var options = services.GetRequiredService<IOptionsMonitor<LayerSkipOptions>>().Get(optionsName);
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("LayerSkip.Engine");
        var started = Stopwatch.GetTimestamp();
        var engine = InferenceEngine.Load(options.ToEngineOptions());
        try
        {
            var model = options.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(engine.ModelPath ?? options.ModelPath));
            logger?.LogInformation("LayerSkip engine {Key} loaded {Model} ({Layers} layers, {Device}, {DType}) in {Elapsed} ms",
                serviceKey ?? "(default)", model, engine.Config.NumLayers, engine.DeviceName, engine.DTypeName,
                (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return engine;
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }
}
