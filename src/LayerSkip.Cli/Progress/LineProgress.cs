namespace LayerSkip.Cli.Progress;

/// <summary>
/// Progress for logs and pipes: "[eval] 12/40 windows (30%), 0:41 elapsed, ETA 1:35" every <see cref="ProgressReporter.Interval"/>,
/// and a closing line with the count and time taken; a task of unknown length over before its first line stays silent
/// (a quick model load). No control characters.
/// </summary>
internal sealed class LineProgress(TextWriter output, TimeSpan interval, TimeProvider time, bool startTimer = true)
    : ProgressReporter(output, interval, time, startTimer)
{
    private ProgressState? _shown;

    protected override void Draw(ProgressState state)
    {
        _shown = state;
        Write($"[{state.Label}] {state.Describe(Now)}");
    }

    protected override void Finish(ProgressState state)
    {
        if (ReferenceEquals(_shown, state) || state.Total > 0) Write($"[{state.Label}] {state.DescribeFinished(Now)}");
    }

    protected override void WriteLogLine(string line) => Write(line);

    private void Write(string line)
    {
        Output.WriteLine(line);
        Output.Flush();
    }
}
