using LayerSkip.Tests;
using System.CommandLine;
using System.Reflection;
using System.Text.RegularExpressions;
using static LayerSkip.Cli.Tests.CliTests;

namespace LayerSkip.Cli.Tests;

/// <summary>Help, --version and usage errors, as users see them from the process, and the docs' commands checked against the parser.</summary>
public class HelpTests
{
    public static TheoryData<string> Commands() => new(CliApp.CreateRootCommand().Subcommands.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryCommandHasHelpListingEachOfItsOptions(string name)
    {
        var (code, stdout, stderr) = Run(name, "--help");
        Assert.Equal(0, code);
        Assert.Equal("", stderr); // no "--prompt is required" or similar
        Assert.Contains($"layerskip {name} [options]", stdout);
        var command = CliApp.CreateRootCommand().Subcommands.Single(c => c.Name == name);
        Assert.NotEmpty(command.Description!);
        foreach (var option in command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal) && o.Name != "--help"))
        {
            Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{name} {option.Name} has no description");
            Assert.Contains(option.Name, stdout);
        }
    }

    [Fact]
    public void GenerateHelpListsItsOptionsAndTheRouterPolicy()
    {
        var (code, stdout, _) = Run("generate", "--help");
        Assert.Equal(0, code);
        foreach (var option in new[] { "--prompt", "--model", "--max-tokens", "--temperature", "--speedup", "--policy", "--layers", "--threads", "--router", "--device", "--dtype" })
            Assert.Contains(option, stdout);
        Assert.Contains("router", stdout[stdout.IndexOf("--policy", StringComparison.Ordinal)..]);
    }

    [Fact]
    public void NoArgumentsPrintTheCommandListAsAUsageError()
    {
        var (code, stdout, _) = Run();
        Assert.Equal(2, code);
        foreach (var command in CliApp.CreateRootCommand().Subcommands) Assert.Contains(command.Name, stdout);
    }

    [Fact]
    public void VersionIsTheAssemblysInformationalVersion()
    {
        var expected = typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        var (code, stdout, _) = Run("--version");
        Assert.Equal(0, code);
        Assert.Equal(expected, stdout.Trim());
    }

    [Fact]
    public void TyposGetSuggestionsAndExitCode2()
    {
        var command = Run("genrate", "--model", "m");
        Assert.Equal(2, command.Code);
        Assert.Contains("'genrate'", command.Err);
        Assert.Matches(@"Did you mean[^\n]*\n\s*generate", command.Err);

        var option = Run("bench", "--repeat", "2");
        Assert.Equal(2, option.Code);
        Assert.Matches(@"Did you mean[^\n]*\n\s*--repeats", option.Err);
        Assert.Contains("layerskip bench --help", option.Err);
        Assert.Equal("", option.Out);
    }

    [Theory]
    [InlineData("bench", "--batch", "1,x", "--batch")]
    [InlineData("eval", "--policy", "unified,fastest", "fastest")]
    [InlineData("plan", "--layers", "many", "many")]
    [InlineData("eval", "--file", "/no/such/file.txt", "/no/such/file.txt")]
    public void MalformedValuesAreUsageErrorsNamingTheProblem(string command, string option, string value, string named)
    {
        var (code, _, stderr) = Run(command, option, value);
        Assert.Equal(2, code);
        Assert.Contains(named, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void MissingRequiredOptionIsAUsageError()
    {
        var (code, _, stderr) = Run("generate", "--model", SharedData.Stories260K);
        Assert.Equal(2, code);
        Assert.Contains("--prompt", stderr);
    }

    /// <summary>
    /// Every layerskip command line in README.md and docs/ (after "src/LayerSkip.Cli --", "$L" or "layerskip") names an
    /// existing command, and each of its options exists on that command.
    /// </summary>
    [Fact]
    public void EveryOptionTheDocsUseExistsOnItsCommand()
    {
        var root = CliApp.CreateRootCommand();
        var checkedLines = 0;
        foreach (var (file, line) in DocCommandLines())
        {
            var m = Regex.Match(line, @"(?:src/LayerSkip\.Cli --|\$L|(?<![\w.-])layerskip)\s+([a-z][a-z-]*)(.*)$");
            if (!m.Success) continue;
            var command = root.Subcommands.SingleOrDefault(c => c.Name == m.Groups[1].Value);
            Assert.True(command is not null, $"{file}: unknown command '{m.Groups[1].Value}' in: {line}");
            foreach (Match option in Regex.Matches(m.Groups[2].Value, @"(?<=\s)--[a-z][a-z0-9-]*"))
                Assert.True(command!.Options.Any(o => o.Name == option.Value || o.Aliases.Contains(option.Value)),
                    $"{file}: {command.Name} has no option {option.Value} (used in: {line})");
            checkedLines++;
        }
        Assert.True(checkedLines >= 10, $"only {checkedLines} command lines found in the docs");
    }

    private static IEnumerable<(string File, string Line)> DocCommandLines()
    {
        var root = RepositoryRoot();
        var files = Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Append(Path.Combine(root, "README.md"));
        foreach (var file in files)
        {
            var inCode = false;
            var pending = "";
            foreach (var raw in File.ReadLines(file))
            {
                if (raw.TrimStart().StartsWith("```", StringComparison.Ordinal)) { inCode = !inCode; pending = ""; continue; }
                if (!inCode) continue;
                var line = pending + raw.Trim();
                if (line.EndsWith('\\')) { pending = line.TrimEnd('\\') + " "; continue; }
                pending = "";
                // Shell separators and comments end a command.
                foreach (var part in Regex.Split(Regex.Replace(line, @"\s#.*$", ""), @";|&&|\|\||\|"))
                    yield return (Path.GetFileName(file), part.Trim());
            }
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LayerSkip.Extensions.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("LayerSkip.Extensions.sln not found above " + AppContext.BaseDirectory);
    }
}
