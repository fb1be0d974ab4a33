using LayerSkip.Engine.Progress;

namespace LayerSkip.Engine.Tests.Progress;

/// <summary>Keeps every progress report, in order, on the reporting thread (unlike Progress&lt;T&gt;, which posts).</summary>
public sealed class RecordedProgress : IProgress<WorkProgress>
{
    private readonly List<WorkProgress> _reports = [];

    public IReadOnlyList<WorkProgress> Reports { get { lock (_reports) return _reports.ToList(); } }

    public void Report(WorkProgress value) { lock (_reports) _reports.Add(value); }
}
