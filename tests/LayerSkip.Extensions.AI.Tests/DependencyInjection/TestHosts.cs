using LayerSkip.Extensions.AI;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LayerSkip.Extensions.AI.Tests.DependencyInjection;

/// <summary>Host builders and request options shared by the hosting tests.</summary>
internal static class TestHosts
{
    public const string Prompt = "Once upon a time";

    /// <summary>A host builder with default sources (but no console logging) and a capturing logger.</summary>
    public static HostApplicationBuilder Builder(CapturingLoggerProvider? logs = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (logs is not null) builder.Logging.AddProvider(logs);
        return builder;
    }

    public static void Stories(LayerSkipOptions o)
    {
        o.ModelPath = SharedData.Stories260K;
        o.Device = "cpu";
        o.DefaultMaxOutputTokens = 12;
        o.MaxBatchSize = 4;
    }

    public static ChatOptions Greedy(int tokens = 12) => new() { Temperature = 0, MaxOutputTokens = tokens };

    /// <summary>A <c>layerskip.*</c> value of a response: on the response itself, in every pipeline.</summary>
    public static object? Property(ChatResponse response, string key) =>
        response.AdditionalProperties?.TryGetValue(key, out var v) == true ? v : null;

    public static int[] KeptLayers(ChatResponse response) => Assert.IsType<int[]>(Property(response, LayerSkipPropertyNames.KeptLayers));
}

/// <summary>Keeps every log line (category, message) written through it.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public List<(string Category, LogLevel Level, string Message)> Lines { get; } = [];
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (owner.Lines) owner.Lines.Add((category, logLevel, formatter(state, exception)));
        }
    }
}
