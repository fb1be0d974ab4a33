using System.IO.Compression;
using System.Text;
using System.Xml.Linq;
using LayerSkip.Tests;
using Xunit.Abstractions;

namespace LayerSkip.Packaging.Tests;

/// <summary>
/// Packaging tests: what a user gets from the packages alone. The solution is packed into a local feed; a console
/// app in a temporary folder outside the repository (so no Directory.Build.* of ours applies) references the packages,
/// builds and runs a DI chat request on stories260K; the CLI package installs as a dotnet tool and generates.
/// </summary>
public sealed class PackagingTests(LocalFeed feed, ITestOutputHelper log) : IClassFixture<LocalFeed>
{
    private static readonly string[] LibraryIds = ["LayerSkip.Engine", "LayerSkip.Templates", "LayerSkip.Extensions.AI", "LayerSkip.SemanticKernel"];

    [Fact]
    public void PackagesCarryMetadataDocsAndTheNativeFix()
    {
        log.WriteLine($"pack: {feed.PackTime.TotalSeconds:0} s");
        foreach (var id in LibraryIds.Append("LayerSkip.Cli"))
        {
            using var zip = ZipFile.OpenRead(feed.Package(id));
            var nuspec = Nuspec(zip);
            string Meta(string name) => nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name)?.Value ?? "";
            Assert.Equal(id, Meta("id"));
            Assert.Equal("MIT", Meta("license"));
            Assert.Equal("README.md", Meta("readme"));
            Assert.NotNull(zip.GetEntry("README.md"));
            Assert.NotNull(zip.GetEntry("LICENSE"));
            Assert.False(string.IsNullOrWhiteSpace(Meta("description")) || Meta("description") == "Package Description", id + " has no description");
            Assert.Contains("layer-skipping", Meta("tags"));
            Assert.False(string.IsNullOrWhiteSpace(Meta("authors")));
            if (id != "LayerSkip.Cli")
                Assert.NotNull(zip.GetEntry($"lib/net10.0/{id}.xml"));
        }

        using (var engine = ZipFile.OpenRead(feed.Package("LayerSkip.Engine")))
        {
            var targets = engine.GetEntry("buildTransitive/LayerSkip.Engine.targets");
            Assert.NotNull(targets);
            using var reader = new StreamReader(targets.Open());
            Assert.Equal(File.ReadAllText(Repository.PathOf("src", "LayerSkip.Engine", "buildTransitive", "LayerSkip.Engine.targets")), reader.ReadToEnd());
        }

        using var tool = ZipFile.OpenRead(feed.Package("LayerSkip.Cli"));
        Assert.Contains(Nuspec(tool).Descendants().Where(e => e.Name.LocalName == "packageType"), e => (string?)e.Attribute("name") == "DotnetTool");
        Assert.Contains(tool.Entries, e => e.FullName.EndsWith("runtimes/linux-x64/native/libtorch_cpu.so"));
        Assert.Contains(tool.Entries, e => e.FullName.EndsWith("runtimes/linux-x64/native/libLibTorchSharp.so"));
    }

    [Fact]
    public void AConsoleAppBuiltFromThePackagesAloneRunsADependencyInjectionChatRequest()
    {
        var app = Path.Combine(feed.WorkRoot, "ConsumerApp");
        Directory.CreateDirectory(app);
        foreach (var dir in AncestorsOf(app))
            foreach (var inherited in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
                Assert.False(File.Exists(Path.Combine(dir, inherited)), $"{Path.Combine(dir, inherited)} would leak into the consumer app");

        File.WriteAllText(Path.Combine(app, "ConsumerApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <NoWarn>$(NoWarn);NU1603</NoWarn>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="LayerSkip.Extensions.AI" Version="{feed.Version}" />
                <PackageReference Include="Microsoft.Extensions.Hosting" Version="{Repository.PinnedVersion("Microsoft.Extensions.Hosting")}" />
                <PackageReference Include="libtorch-cpu-linux-x64" Version="{Repository.PinnedVersion("libtorch-cpu-linux-x64")}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using LayerSkip.Extensions.AI;
            using Microsoft.Extensions.AI;
            using Microsoft.Extensions.DependencyInjection;
            using Microsoft.Extensions.Hosting;

            var builder = Host.CreateApplicationBuilder();
            builder.Services.AddLayerSkipChatClient(o => o.ModelPath = args[0]);
            using var host = builder.Build();
            await host.StartAsync();
            var chat = host.Services.GetRequiredService<IChatClient>();
            var response = await chat.GetResponseAsync("Once upon a time", new ChatOptions { MaxOutputTokens = 30, Temperature = 0 });
            Console.WriteLine("TEXT: " + response.Text);
            await host.StopAsync();
            """);

        var build = DotnetProcess.Run("dotnet", app, feed.ConsumerEnvironment, LocalFeed.StepTimeout, "build", "-c", "Release")
            .EnsureSuccess("dotnet build of the consumer app");
        log.WriteLine($"consumer restore + build: {build.Elapsed.TotalSeconds:0} s");
        var native = Directory.GetFiles(Path.Combine(app, "bin"), "libLibTorchSharp.so", SearchOption.AllDirectories).Single();
        Assert.Equal(SystemLibstdcxxLacksGlibcxx3432(), build.Output.Contains("marked GLIBCXX_3.4.32 weak"));
        Assert.Equal(SystemLibstdcxxLacksGlibcxx3432(), VersionRequirementIsWeak(native, "GLIBCXX_3.4.32"));

        var dll = Directory.GetFiles(Path.Combine(app, "bin", "Release"), "ConsumerApp.dll", SearchOption.AllDirectories).Single();
        var run = DotnetProcess.Run("dotnet", app, null, LocalFeed.StepTimeout, dll, SharedData.Stories260K)
            .EnsureSuccess("the consumer app");
        log.WriteLine(run.Output);
        var text = run.Output.Split('\n').Single(l => l.StartsWith("TEXT: "));
        // stories260K continues "Once upon a time" greedily with a story about a little girl named Lily.
        Assert.Contains("there was a little girl named Lily", text);
    }

    [Fact]
    public void TheCliInstallsAsADotnetToolAndGenerates()
    {
        var toolPath = Path.Combine(feed.WorkRoot, "tools");
        var install = DotnetProcess.Run("dotnet", feed.WorkRoot, feed.ConsumerEnvironment, LocalFeed.StepTimeout,
                "tool", "install", "--tool-path", toolPath, "--add-source", feed.FeedPath, "LayerSkip.Cli", "--version", feed.Version)
            .EnsureSuccess("dotnet tool install");
        log.WriteLine($"tool install: {install.Elapsed.TotalSeconds:0} s");
        var layerskip = Path.Combine(toolPath, "layerskip");
        Assert.True(File.Exists(layerskip), "the tool's command is not named layerskip");

        var help = DotnetProcess.Run(layerskip, feed.WorkRoot, null, TimeSpan.FromMinutes(1), "--help").EnsureSuccess("layerskip --help");
        Assert.Contains("generate", help.Output);
        var generateHelp = DotnetProcess.Run(layerskip, feed.WorkRoot, null, TimeSpan.FromMinutes(1), "generate", "--help")
            .EnsureSuccess("layerskip generate --help");
        foreach (var option in new[] { "--model", "--prompt", "--max-tokens", "--speedup", "--policy" })
            Assert.Contains(option, generateHelp.Output);

        var generate = DotnetProcess.Run(layerskip, feed.WorkRoot, null, TimeSpan.FromMinutes(2),
                "generate", "--model", SharedData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "20", "--temperature", "0")
            .EnsureSuccess("layerskip generate");
        Assert.Contains("there was a little girl named Lily", generate.Output);
    }

    private static XDocument Nuspec(ZipArchive zip)
    {
        using var stream = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec")).Open();
        return XDocument.Load(stream);
    }

    private static IEnumerable<string> AncestorsOf(string path)
    {
        for (var dir = new DirectoryInfo(path); dir != null; dir = dir.Parent) yield return dir.FullName;
    }

    /// <summary>The fix applies only where the system libstdc++ lacks the version: read the library's version strings.</summary>
    private static bool SystemLibstdcxxLacksGlibcxx3432()
    {
        var lib = new[] { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib64" }
            .Select(d => Path.Combine(d, "libstdc++.so.6")).First(File.Exists);
        return !Contains(File.ReadAllBytes(lib), Encoding.ASCII.GetBytes("GLIBCXX_3.4.32\0"));
    }

    private static bool Contains(byte[] hay, byte[] needle) => hay.AsSpan().IndexOf(needle) >= 0;

    /// <summary>Reads the ELF version-needed entries independently of the build task: is this version marked weak?</summary>
    private static bool VersionRequirementIsWeak(string elfPath, string versionName)
    {
        var b = File.ReadAllBytes(elfPath);
        var shoff = (int)BitConverter.ToUInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A), shnum = BitConverter.ToUInt16(b, 0x3C);
        for (var s = 0; s < shnum; s++)
        {
            var sh = shoff + s * shentsize;
            if (BitConverter.ToUInt32(b, sh + 4) != 0x6ffffffe) continue; // SHT_GNU_verneed
            var strtab = (int)BitConverter.ToUInt64(b, shoff + (int)BitConverter.ToUInt32(b, sh + 0x28) * shentsize + 0x18);
            for (int need = (int)BitConverter.ToUInt64(b, sh + 0x18), step = -1; step != 0; need += step)
            {
                var aux = need + (int)BitConverter.ToUInt32(b, need + 8);
                for (int a = 0, count = BitConverter.ToUInt16(b, need + 2); a < count; a++, aux += (int)BitConverter.ToUInt32(b, aux + 12))
                {
                    var name = strtab + (int)BitConverter.ToUInt32(b, aux + 8);
                    if (Encoding.ASCII.GetString(b, name, Array.IndexOf(b, (byte)0, name) - name) == versionName)
                        return (BitConverter.ToUInt16(b, aux + 4) & 0x2) != 0;
                }
                step = (int)BitConverter.ToUInt32(b, need + 12);
            }
        }
        throw new InvalidOperationException($"{elfPath} does not ask for {versionName}");
    }
}
