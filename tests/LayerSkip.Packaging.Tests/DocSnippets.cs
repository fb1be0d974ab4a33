using System.Text.RegularExpressions;

namespace LayerSkip.Packaging.Tests;

/// <summary>
/// The ```csharp blocks of README.md and docs/*.md. Each block is a complete program (top-level statements, then any
/// types it declares) that must compile as pasted into a console app referencing the LayerSkip packages. A block that
/// cannot stand alone is marked by the line <c>&lt;!-- snippet: fragment --&gt;</c> right above its fence; those are
/// compiled as class members instead (keep them rare).
/// </summary>
public sealed record DocSnippet(string File, int Line, string Code, bool IsFragment)
{
    public const string FragmentMarker = "<!-- snippet: fragment -->";

    public override string ToString() => $"{File}:{Line}";

    public static IReadOnlyList<DocSnippet> All()
    {
        var files = new[] { Repository.PathOf("README.md") }
            .Concat(Directory.GetFiles(Repository.PathOf("docs"), "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        return files.SelectMany(Read).ToList();
    }

    public static IEnumerable<DocSnippet> Read(string path)
    {
        var lines = System.IO.File.ReadAllLines(path);
        var relative = Path.GetRelativePath(Repository.Root, path);
        for (var i = 0; i < lines.Length; i++)
        {
            if (!IsCSharpFence(lines[i])) continue;
            var start = i + 1;
            var end = start;
            while (end < lines.Length && lines[end].Trim() != "```") end++;
            if (end == lines.Length) throw new InvalidDataException($"{relative}:{i + 1}: a ```csharp block is never closed.");
            var fragment = i > 0 && lines[i - 1].Trim() == FragmentMarker;
            yield return new DocSnippet(relative, i + 1, string.Join('\n', lines[start..end]), fragment);
            i = end;
        }
    }

    public static bool IsCSharpFence(string line) => Regex.IsMatch(line.Trim(), @"^```\s*(csharp|cs|c#)\b", RegexOptions.IgnoreCase);
}
