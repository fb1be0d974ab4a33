using System.Globalization;
using LayerSkip.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LayerSkip.Samples.Worker;

/// <summary>
/// A generic host whose <see cref="PromptQueueWorker"/> drains a queue of prompts through the DI-registered
/// IChatClient and stops the host. With Worker:Compare (the default) the same host runs twice: first with
/// LayerSkip:DefaultSpeedupRatio = 1 (every layer), then with the configured ratio; only configuration differs.
/// Each host warms up with one untimed batch before its clock starts (Worker:WarmUp), so warm is compared with warm.
/// <code>dotnet run --project samples/LayerSkip.Worker [model-folder] [--prompts 8] [--max-tokens 48] [--speedup 2] [--LayerSkip:DefaultSkipPolicy EarlyExit]</code>
/// Any configuration key can be given as --Section:Key value (worker.appsettings.json has the defaults).
/// </summary>
public static class Program
{
    public static Task<int> Main(string[] args) => RunAsync(args, Console.Out);

    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken = default)
    {
        Dictionary<string, string?> overrides;
        string[] hostArgs;
        try
        {
            (overrides, hostArgs) = Translate(args);
        }
        catch (ArgumentException e)
        {
            await output.WriteLineAsync($"error: {e.Message}");
            return 2;
        }

        var configured = BuildConfiguration(hostArgs, overrides);
        var compare = configured.GetValue("Worker:Compare", true);
        var runs = new List<ThroughputReport>();
        if (compare)
        {
            var baseline = new Dictionary<string, string?>(overrides) { ["LayerSkip:DefaultSpeedupRatio"] = "1" };
            runs.Add(await RunHostAsync(hostArgs, baseline, cancellationToken));
        }
        if (runs.All(r => r.Completed))
            runs.Add(await RunHostAsync(hostArgs, overrides, cancellationToken));

        foreach (var run in runs)
            await output.WriteLineAsync(run.Error is null ? run.ToString() : $"failed: {run.Error.GetBaseException().Message}");
        if (runs.Any(r => !r.Completed)) return 1;
        if (runs.Count == 2 && runs[0].TokensPerSecond > 0)
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"throughput with layer skipping: {runs[1].TokensPerSecond / runs[0].TokensPerSecond:0.00}x the full-depth run (both warm)"));
        return 0;
    }

    /// <summary>Builds and runs one host; the report survives the host.</summary>
    public static async Task<ThroughputReport> RunHostAsync(string[] args, IDictionary<string, string?> overrides, CancellationToken cancellationToken = default)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        ConfigureSources(builder.Configuration, args, overrides);
        builder.Services.AddLayerSkipChatClient();               // binds the "LayerSkip" section, validated at start-up
        builder.Services.Configure<WorkerOptions>(builder.Configuration.GetSection("Worker"));
        builder.Services.AddSingleton<ThroughputReport>();
        builder.Services.AddHostedService<PromptQueueWorker>();

        var report = new ThroughputReport();
        try
        {
            using var host = builder.Build();
            report = host.Services.GetRequiredService<ThroughputReport>();
            await host.RunAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            report.Error ??= e;
        }
        return report;
    }

    private static IConfiguration BuildConfiguration(string[] args, IDictionary<string, string?> overrides)
    {
        var configuration = new ConfigurationManager();
        ConfigureSources(configuration, args, overrides);
        return configuration;
    }

    private static void ConfigureSources(IConfigurationManager configuration, string[] args, IDictionary<string, string?> overrides)
    {
        configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "worker.appsettings.json"), optional: true);
        configuration.AddEnvironmentVariables("LAYERSKIP_WORKER_");
        configuration.AddCommandLine(args);
        var values = new Dictionary<string, string?>(overrides);
        // A model folder named nowhere: the shared stories260K.
        if (string.IsNullOrWhiteSpace(configuration["LayerSkip:ModelPath"]) && !values.ContainsKey("LayerSkip:ModelPath"))
            values["LayerSkip:ModelPath"] = SampleData.Model(null);
        configuration.AddInMemoryCollection(values);
    }

    /// <summary>The sample's short options become configuration keys; the rest goes to the host's command-line provider.</summary>
    private static (Dictionary<string, string?> Overrides, string[] HostArgs) Translate(string[] args)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["prompts"] = "Worker:PromptCount",
            ["max-tokens"] = "LayerSkip:DefaultMaxOutputTokens",
            ["speedup"] = "LayerSkip:DefaultSpeedupRatio",
            ["policy"] = "LayerSkip:DefaultSkipPolicy",
            ["device"] = "LayerSkip:Device",
            ["file"] = "Worker:PromptFile",
            ["no-compare"] = "Worker:Compare",
        };
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (!a.StartsWith('-'))
            {
                if (overrides.ContainsKey("LayerSkip:ModelPath")) throw new ArgumentException($"Unexpected argument '{a}'.");
                overrides["LayerSkip:ModelPath"] = a;
            }
            else if (a.StartsWith("--", StringComparison.Ordinal) && map.TryGetValue(a[2..], out var key))
            {
                if (key == "Worker:Compare") overrides[key] = "false";
                else if (i + 1 < args.Length) overrides[key] = args[++i];
                else throw new ArgumentException($"Option {a} needs a value.");
            }
            else
            {
                rest.Add(a);
                if (!a.Contains('=') && i + 1 < args.Length) rest.Add(args[++i]);
            }
        }
        return (overrides, rest.ToArray());
    }
}
