using System.CommandLine;
using LayerSkip.Cli.Progress;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// A layerskip subcommand. Subclasses declare their options as fields and add them in their constructor (that order
/// is the order of --help); <see cref="RunAsync"/> reads the parsed values and does the work, with progress on stderr.
/// </summary>
internal abstract class CliCommand : Command
{
    protected CliCommand(string name, string description) : base(name, description) =>
        SetAction(async (parse, cancellation) =>
        {
            using var progress = ProgressReporter.ForStandardError();
            return await RunAsync(parse, progress, cancellation);
        });

    protected abstract Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation);
}
