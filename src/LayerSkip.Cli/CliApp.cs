using System.CommandLine;
using System.CommandLine.Invocation;
using LayerSkip.Cli.Commands;

namespace LayerSkip.Cli;

/// <summary>
/// The layerskip command line: the commands, their help and --version (from System.CommandLine), and the exit codes:
/// 0 success, 2 usage errors (unknown or malformed options, with suggestions for typos), 1 errors while working.
/// </summary>
public static class CliApp
{
    public const int UsageError = 2;
    public const int RuntimeError = 1;

    public static RootCommand CreateRootCommand() => new("layerskip: local LLaMA-family inference with layer skipping, and the tools to measure and train for it.")
    {
        new GenerateCommand(),
        new PerplexityCommand(),
        new EvalCommand(),
        new PlanCommand(),
        new BenchCommand(),
        new MatVecBenchCommand(),
        new SamplingBenchCommand(),
        new ChatBenchCommand(),
        new SpeculativeBenchCommand(),
        new CalibrateDraftCommand(),
        new RouterBenchCommand(),
        new TrainCommand(),
        new AdaptCommand(),
        new TrainRouterCommand(),
    };

    public static async Task<int> RunAsync(string[] args)
    {
        var root = CreateRootCommand();
        // No command at all, or the old "help" word: the overview, as a usage error when nothing was asked.
        if (args is [] or ["help"])
        {
            await root.Parse("--help").InvokeAsync();
            return args.Length == 0 ? UsageError : 0;
        }

        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction errors)
        {
            errors.ShowHelp = false;
            errors.ShowTypoCorrections = true;
            // Suggestions are part of the error: stderr, like the rest of it.
            await parse.InvokeAsync(new InvocationConfiguration { Output = Console.Error });
            var command = parse.CommandResult.Command;
            Console.Error.WriteLine($"Run 'layerskip {(command is RootCommand ? "" : command.Name + " ")}--help' for the options.");
            return UsageError;
        }
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (CliException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return UsageError;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("stopped.");
            return 130;
        }
        catch (Exception e)
        {
            // Users get the message; LAYERSKIP_DEBUG=1 adds the stack trace.
            Console.Error.WriteLine(Environment.GetEnvironmentVariable("LAYERSKIP_DEBUG") == "1" ? $"error: {e}" : $"error: {e.Message}");
            return RuntimeError;
        }
    }
}
