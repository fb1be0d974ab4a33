namespace LayerSkip.Samples;

/// <summary>Finds the default model (../shared/models/stories260K) and data files for the samples.</summary>
internal static class SampleData
{
    /// <summary><paramref name="path"/> when given, else shared/<paramref name="relative"/> found above the working or the program folder.</summary>
    public static string Resolve(string? path, params string[] relative)
    {
        if (!string.IsNullOrWhiteSpace(path)) return path;
        var fromEnv = Environment.GetEnvironmentVariable("LAYERSKIP_SHARED");
        if (!string.IsNullOrEmpty(fromEnv)) return Path.Combine([fromEnv, .. relative]);
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine([dir.FullName, "shared", .. relative]);
                if (Directory.Exists(candidate) || File.Exists(candidate)) return candidate;
            }
        return Path.Combine(["..", "shared", .. relative]);
    }

    public static string Model(string? path) => Resolve(path, "models", "stories260K");
}

/// <summary>A tiny "--name value" argument reader; the first bare argument is the model folder.</summary>
internal sealed class SampleArgs
{
    private readonly Dictionary<string, string> _named = new(StringComparer.OrdinalIgnoreCase);

    public SampleArgs(string[] args, params string[] flags)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                var name = a[2..];
                if (flags.Contains(name, StringComparer.OrdinalIgnoreCase)) _named[name] = "true";
                else if (i + 1 < args.Length) _named[name] = args[++i];
                else throw new ArgumentException($"Option --{name} needs a value.");
            }
            else if (ModelPath is null) ModelPath = a;
            else throw new ArgumentException($"Unexpected argument '{a}'.");
        }
    }

    public string? ModelPath { get; }
    public string? Get(string name) => _named.GetValueOrDefault(name);
    public bool Has(string name) => _named.ContainsKey(name);
    public int Int(string name, int fallback) => Get(name) is { } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
    public double Double(string name, double fallback) => Get(name) is { } v ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
