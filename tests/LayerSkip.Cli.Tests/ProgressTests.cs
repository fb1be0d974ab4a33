using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Progress;

namespace LayerSkip.Cli.Tests;

/// <summary>The two progress displays, driven by a manual clock and explicit redraws.</summary>
public class ProgressTests
{
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;
        public void Advance(TimeSpan by) => _ticks += by.Ticks;
        public override long GetTimestamp() => _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    }

    [Fact]
    public void LinesGiveCountElapsedAndEtaThenTheTimeTaken()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        using var progress = new LineProgress(output, TimeSpan.FromSeconds(5), clock, startTimer: false);
        var task = progress.Start("eval", 40, "windows");
        clock.Advance(TimeSpan.FromSeconds(41));
        task.Report(new WorkProgress(12, 40, "loss 2.910"));
        progress.Tick();
        // 41 s for 12 windows: the remaining 28 take 41 * 28 / 12 = 95.7 s.
        Assert.Equal("[eval] 12/40 windows (30%), 0:41 elapsed, ETA 1:35, loss 2.910", Lines(output)[0]);
        clock.Advance(TimeSpan.FromSeconds(95));
        task.Report(new WorkProgress(40, 40));
        task.Dispose();
        Assert.Equal("[eval] done: 40/40 windows in 2:16, loss 2.910", Lines(output)[1]);
        Assert.DoesNotContain('\r', output.ToString());
    }

    [Fact]
    public void AQuickTaskOfUnknownLengthStaysSilentButLogLinesPassThrough()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        using var progress = new LineProgress(output, TimeSpan.FromSeconds(5), clock, startTimer: false);
        using (var task = progress.Start("load stories260K"))
        {
            progress.Log.WriteLine("weights: 1 MB");
            task.Advance();
        }
        Assert.Equal(["weights: 1 MB"], Lines(output));
    }

    [Fact]
    public void ATaskOfUnknownLengthReportsElapsedTime()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        using var progress = new LineProgress(output, TimeSpan.FromSeconds(5), clock, startTimer: false);
        using (progress.Start("load llama"))
        {
            clock.Advance(TimeSpan.FromSeconds(12));
            progress.Tick();
        }
        Assert.Equal(["[load llama] 0:12 elapsed", "[load llama] done in 0:12"], Lines(output));
    }

    [Fact]
    public void TheTerminalBarRedrawsInPlaceAndKeepsLogLinesAboveIt()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        using var progress = new TerminalProgress(output, clock, startTimer: false);
        var task = progress.Start("train", 100, "steps");
        clock.Advance(TimeSpan.FromSeconds(20));
        task.Report(new WorkProgress(50, 100));
        progress.Tick();
        progress.Log.WriteLine("[train] step 50/100 loss 3.0000");
        task.Dispose();

        var text = output.ToString();
        var redraws = text.Split("\r\u001b[K");
        // Start, tick, log line (then the bar again), finish.
        Assert.Contains(redraws, r => r.StartsWith("[train] [############------------] 50/100 steps (50%), 0:20 elapsed, ETA 0:20", StringComparison.Ordinal));
        Assert.Contains(redraws, r => r.StartsWith("[train] step 50/100 loss 3.0000\n", StringComparison.Ordinal));
        Assert.EndsWith("\r\u001b[K[train] stopped at 50/100 steps after 0:20\n", text);
        // The log line is on a line of its own: the bar was cleared before it.
        Assert.Contains("\r\u001b[K[train] step 50/100 loss 3.0000\n", text);
    }

    private static string[] Lines(StringWriter output) => output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
