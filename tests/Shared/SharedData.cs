namespace LayerSkip.Tests;

/// <summary>Locates the read-only ../shared folder (models, tokenizer fixtures, evaluation text) beside the checkout.</summary>
public static class SharedData
{
    private static readonly Lazy<string> Root = new(FindRoot);

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);

    public static string Stories260K => Path("models", "stories260K");

    private static string FindRoot()
    {
        var fromEnv = Environment.GetEnvironmentVariable("LAYERSKIP_SHARED");
        if (!string.IsNullOrEmpty(fromEnv) && Directory.Exists(fromEnv)) return fromEnv;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "shared");
            if (Directory.Exists(System.IO.Path.Combine(candidate, "models", "stories260K"))) return candidate;
        }
        throw new DirectoryNotFoundException(
            "Could not find the shared data folder (../shared with models/stories260K) above " + AppContext.BaseDirectory +
            "; set LAYERSKIP_SHARED to its path.");
    }
}
