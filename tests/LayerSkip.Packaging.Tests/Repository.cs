using System.Xml.Linq;

namespace LayerSkip.Packaging.Tests;

/// <summary>The checkout these tests run from, and the package versions it pins.</summary>
internal static class Repository
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LayerSkip.Extensions.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("No LayerSkip.Extensions.sln above " + AppContext.BaseDirectory);
    });

    public static string Root => RootPath.Value;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>The version Directory.Packages.props pins for a package, so a consumer app uses the same.</summary>
    public static string PinnedVersion(string package)
    {
        var props = XDocument.Load(PathOf("Directory.Packages.props"));
        return props.Descendants("PackageVersion")
                   .FirstOrDefault(e => string.Equals((string?)e.Attribute("Include"), package, StringComparison.OrdinalIgnoreCase))
                   ?.Attribute("Version")?.Value
               ?? throw new InvalidOperationException($"Directory.Packages.props pins no version of {package}.");
    }
}
