using System.Diagnostics;

namespace LayerSkip.Packaging.Tests;

/// <summary>
/// Packs the solution (already built in Release) into a local feed in a temporary folder outside the repository,
/// under a version no earlier run used, so nothing is resolved from a stale copy in a NuGet cache. Consumers restore
/// into their own packages folder and read everything else (libtorch, Microsoft.Extensions.*) from the machine's
/// global packages folder as a read-only fallback, so the 500 MB of natives are not extracted again.
/// </summary>
public sealed class LocalFeed : IDisposable
{
    public static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(8);

    public string WorkRoot { get; }
    public string FeedPath { get; }
    public string PackagesPath { get; }
    public string Version { get; }
    public TimeSpan PackTime { get; }

    public LocalFeed()
    {
        WorkRoot = Path.Combine(Path.GetTempPath(), "layerskip-packaging-" + Guid.NewGuid().ToString("N")[..12]);
        FeedPath = Path.Combine(WorkRoot, "feed");
        PackagesPath = Path.Combine(WorkRoot, "packages");
        Directory.CreateDirectory(FeedPath);
        Version = $"0.0.0-ci.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

        var clock = Stopwatch.StartNew();
        DotnetProcess.Run("dotnet", Repository.Root, null, StepTimeout,
                "pack", "LayerSkip.Extensions.sln", "-c", "Release", "--no-build", "-o", FeedPath,
                "-p:Version=" + Version,
                // The tool's publish layout (500 MB of natives) goes to the temporary folder, not into the checkout.
                "-p:PublishDir=" + Path.Combine(WorkRoot, "publish") + "/")
            .EnsureSuccess("dotnet pack");
        PackTime = clock.Elapsed;

        File.WriteAllText(Path.Combine(WorkRoot, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="layerskip-local" value="{FeedPath}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="machine-cache" value="{GlobalPackagesFolder()}" />
              </fallbackPackageFolders>
            </configuration>
            """);
    }

    public string Package(string id) => Path.Combine(FeedPath, $"{id}.{Version}.nupkg");

    /// <summary>Environment for a child dotnet: its own packages folder, so the machine cache is never written.</summary>
    public IReadOnlyDictionary<string, string> ConsumerEnvironment => new Dictionary<string, string> { ["NUGET_PACKAGES"] = PackagesPath };

    private static string GlobalPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } fromEnv
            ? fromEnv
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    public void Dispose()
    {
        try { Directory.Delete(WorkRoot, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
