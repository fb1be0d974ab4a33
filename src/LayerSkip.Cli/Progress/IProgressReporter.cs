using LayerSkip.Engine.Progress;

namespace LayerSkip.Cli.Progress;

/// <summary>
/// Shows how far long work got, on stderr: a live bar on a terminal, a line every few seconds otherwise. One task is
/// shown at a time; <see cref="Log"/> writes lines above it without breaking it.
/// </summary>
internal interface IProgressReporter : IDisposable
{
    /// <summary>Starts showing a task of <paramref name="total"/> <paramref name="unit"/> (0: length unknown, elapsed time only).</summary>
    IProgressTask Start(string label, long total = 0, string unit = "");

    /// <summary>Diagnostics and per-row results that must stay readable while a task is shown.</summary>
    TextWriter Log { get; }
}

/// <summary>One task being shown; disposing it prints how long it took.</summary>
internal interface IProgressTask : IProgress<WorkProgress>, IDisposable
{
    void Advance(long by = 1, string? detail = null);
}
