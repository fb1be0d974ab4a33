using System.Diagnostics;
using System.Text;

namespace LayerSkip.Packaging.Tests;

/// <summary>Runs a command (dotnet, the installed tool) to completion and returns its exit code and output.</summary>
internal static class DotnetProcess
{
    public sealed record Result(int ExitCode, string Output, TimeSpan Elapsed)
    {
        public Result EnsureSuccess(string what)
        {
            if (ExitCode != 0) throw new Xunit.Sdk.XunitException($"{what} exited with {ExitCode}:\n{Tail(Output)}");
            return this;
        }
    }

    public static Result Run(string fileName, string workingDirectory, IReadOnlyDictionary<string, string>? environment,
        TimeSpan timeout, params string[] args)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        // The test host inherits MSBuild's variables from `dotnet test`; a child build must find its own SDK.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            info.Environment.Remove(key);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        if (environment != null)
            foreach (var (key, value) in environment) info.Environment[key] = value;

        var output = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in {timeout}:\n{Tail(output.ToString())}");
        }
        process.WaitForExit();
        lock (output) return new Result(process.ExitCode, output.ToString(), clock.Elapsed);
    }

    private static string Tail(string text) => text.Length <= 6000 ? text : "…" + text[^6000..];
}
