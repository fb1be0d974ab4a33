using System.Text;
using LayerSkip.Engine.Progress;

namespace LayerSkip.Cli.Progress;

/// <summary>
/// The shared machinery of both displays: the current task's state, updated from any thread, and a timer that
/// redraws it every <see cref="Interval"/>. Subclasses decide what a redraw, a finished task and a log line look like.
/// </summary>
internal abstract class ProgressReporter : IProgressReporter
{
    private readonly Timer? _timer;
    protected readonly object Gate = new();
    protected readonly TextWriter Output;
    protected readonly TimeProvider Time;
    private readonly long _origin;
    protected ProgressState? Current;

    protected ProgressReporter(TextWriter output, TimeSpan interval, TimeProvider time, bool startTimer)
    {
        Output = output;
        Time = time;
        Interval = interval;
        _origin = time.GetTimestamp();
        Log = new LineWriter(this);
        if (startTimer) _timer = new Timer(_ => Tick(), null, interval, interval);
    }

    /// <summary>Stderr: a live bar when it is a terminal, periodic lines when it is redirected to a file or a pipe.</summary>
    public static IProgressReporter ForStandardError() => Console.IsErrorRedirected
        ? new LineProgress(Console.Error, TimeSpan.FromSeconds(5), TimeProvider.System)
        : new TerminalProgress(Console.Error, TimeProvider.System);

    public TimeSpan Interval { get; }
    public TextWriter Log { get; }

    protected TimeSpan Now => Time.GetElapsedTime(_origin);

    public IProgressTask Start(string label, long total = 0, string unit = "")
    {
        lock (Gate)
        {
            Current = new ProgressState(label, total, unit, Now);
            OnStarted(Current);
            return new ShownTask(this, Current);
        }
    }

    /// <summary>Redraws the current task (called by the timer; tests call it directly).</summary>
    public void Tick()
    {
        lock (Gate)
            if (Current is not null) Draw(Current);
    }

    protected virtual void OnStarted(ProgressState state) { }
    protected abstract void Draw(ProgressState state);
    protected abstract void Finish(ProgressState state);
    protected abstract void WriteLogLine(string line);

    private void Update(ProgressState state, long? done, long? total, long advance, string? detail)
    {
        lock (Gate)
        {
            if (total is long t) state.Total = t;
            state.Done = done ?? state.Done + advance;
            if (detail is not null) state.Detail = detail;
        }
    }

    private void End(ProgressState state)
    {
        lock (Gate)
        {
            if (!ReferenceEquals(Current, state)) return;
            Finish(state);
            Current = null;
        }
    }

    public virtual void Dispose()
    {
        _timer?.Dispose();
        lock (Gate)
            if (Current is not null) { Finish(Current); Current = null; }
        Output.Flush();
    }

    private sealed class ShownTask(ProgressReporter owner, ProgressState state) : IProgressTask
    {
        public void Report(WorkProgress value) => owner.Update(state, value.Done, value.Total, 0, value.Detail);
        public void Advance(long by = 1, string? detail = null) => owner.Update(state, null, null, by, detail);
        public void Dispose() => owner.End(state);
    }

    /// <summary>A TextWriter whose complete lines go through <see cref="WriteLogLine"/>.</summary>
    private sealed class LineWriter(ProgressReporter owner) : TextWriter
    {
        private readonly StringBuilder _pending = new();
        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            lock (owner.Gate)
            {
                if (value == '\n')
                {
                    owner.WriteLogLine(_pending.ToString().TrimEnd('\r'));
                    _pending.Clear();
                }
                else _pending.Append(value);
            }
        }

        public override void Write(string? value)
        {
            if (value is null) return;
            lock (owner.Gate)
                foreach (var c in value) Write(c);
        }

        public override void WriteLine(string? value)
        {
            lock (owner.Gate) { Write(value); Write('\n'); }
        }
    }
}
