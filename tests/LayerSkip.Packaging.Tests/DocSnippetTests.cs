using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LayerSkip.Packaging.Tests;

/// <summary>
/// Every ```csharp block in README.md and docs/ compiles as pasted into a console app (implicit usings on, nullable
/// enabled) that references LayerSkip.Extensions.AI, LayerSkip.SemanticKernel and Microsoft.Extensions.Hosting —
/// the packages the docs tell users to add.
/// </summary>
public sealed class DocSnippetTests
{
    // What `dotnet new console` puts in scope.
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    private static readonly Lazy<IReadOnlyList<MetadataReference>> References = new(LoadReferences);

    public static TheoryData<string> Snippets()
    {
        var data = new TheoryData<string>();
        foreach (var snippet in DocSnippet.All()) data.Add(snippet.ToString());
        return data;
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void SnippetCompiles(string location)
    {
        var snippet = DocSnippet.All().Single(s => s.ToString() == location);
        var code = snippet.IsFragment ? $"internal static class Fragment\n{{\n{snippet.Code}\n}}" : snippet.Code;
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var tree = CSharpSyntaxTree.ParseText(code, parse, path: snippet.File);
        var isProgram = tree.GetRoot().DescendantNodes().OfType<GlobalStatementSyntax>().Any();
        var compilation = CSharpCompilation.Create(
            "Snippet",
            [tree, CSharpSyntaxTree.ParseText(ImplicitUsings, parse)],
            References.Value,
            new CSharpCompilationOptions(isProgram ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable));

        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0,
            $"{snippet} does not compile:\n" + string.Join('\n', errors.Select(e =>
                $"  line {snippet.Line + 1 + e.Location.GetLineSpan().StartLinePosition.Line - (snippet.IsFragment ? 2 : 0)}: {e.Id} {e.GetMessage()}")));
    }

    [Fact]
    public void EveryCSharpFenceIsFoundAndFragmentsStayRare()
    {
        var snippets = DocSnippet.All();
        var fences = new[] { Repository.PathOf("README.md") }
            .Concat(Directory.GetFiles(Repository.PathOf("docs"), "*.md", SearchOption.AllDirectories))
            .Sum(f => File.ReadLines(f).Count(DocSnippet.IsCSharpFence));
        Assert.Equal(fences, snippets.Count);
        Assert.Contains(snippets, s => s.File == "README.md");
        Assert.True(snippets.Count(s => s.IsFragment) * 4 <= snippets.Count, "most snippets must be complete programs");
    }

    [Fact]
    public void ABrokenSnippetIsReported()
    {
        // The check itself can fail: an undefined type is an error.
        var tree = CSharpSyntaxTree.ParseText("var x = new UndefinedPlugin();");
        var compilation = CSharpCompilation.Create("Broken", [tree], References.Value, new CSharpCompilationOptions(OutputKind.ConsoleApplication));
        Assert.Contains(compilation.GetDiagnostics(), d => d.Id == "CS0246");
    }

    /// <summary>The framework, then the managed assemblies beside the tests (our libraries and their packages).</summary>
    private static IReadOnlyList<MetadataReference> LoadReferences()
    {
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
            byName.TryAdd(Path.GetFileNameWithoutExtension(path), path);
        foreach (var path in Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
        {
            var name = Path.GetFileNameWithoutExtension(path);
            if (byName.ContainsKey(name) || name.Contains("xunit", StringComparison.OrdinalIgnoreCase) || name.StartsWith("LayerSkip.Packaging")) continue;
            try { AssemblyName.GetAssemblyName(path); } catch (BadImageFormatException) { continue; }
            byName[name] = path;
        }
        return byName.Values.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
    }
}
