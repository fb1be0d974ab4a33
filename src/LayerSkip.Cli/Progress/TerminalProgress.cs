namespace LayerSkip.Cli.Progress;

/// <summary>
/// A live one-line bar on a terminal, redrawn in place with a carriage return a few times a second:
/// "[eval] [########------------] 12/40 windows (30%), 0:41 elapsed, ETA 1:35". Log lines are printed above it.
/// </summary>
internal sealed class TerminalProgress(TextWriter output, TimeProvider time, bool startTimer = true)
    : ProgressReporter(output, TimeSpan.FromMilliseconds(200), time, startTimer)
{
    private const string ClearLine = "\r\u001b[K";
    private const int BarWidth = 24;
    private static readonly string[] Spinner = ["|", "/", "-", "\\"];
    private int _frame;
    private bool _drawn;

    protected override void OnStarted(ProgressState state) => Draw(state);

    protected override void Draw(ProgressState state)
    {
        var bar = state.Fraction is double f
            ? "[" + new string('#', (int)Math.Round(f * BarWidth)).PadRight(BarWidth, '-') + "] "
            : Spinner[_frame++ % Spinner.Length] + " ";
        var line = $"[{state.Label}] {bar}{state.Describe(Now)}";
        var width = ConsoleWidth();
        if (line.Length > width - 1) line = line[..(width - 1)];
        Output.Write(ClearLine + line);
        Output.Flush();
        _drawn = true;
    }

    protected override void Finish(ProgressState state)
    {
        Output.Write($"{ClearLine}[{state.Label}] {state.DescribeFinished(Now)}\n");
        Output.Flush();
        _drawn = false;
    }

    protected override void WriteLogLine(string line)
    {
        Output.Write((_drawn ? ClearLine : "") + line + "\n");
        _drawn = false;
        if (Current is not null) Draw(Current);
        else Output.Flush();
    }

    private static int ConsoleWidth()
    {
        try { return Console.WindowWidth is > 20 and var w ? w : 120; }
        catch (IOException) { return 120; }
    }
}
