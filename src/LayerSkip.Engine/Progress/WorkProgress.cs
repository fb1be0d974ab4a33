namespace LayerSkip.Engine.Progress;

/// <summary>
/// How far a long loop (training, calibration, evaluation) got: <paramref name="Done"/> of <paramref name="Total"/>
/// units, with an optional short detail such as the current loss. Reported through <see cref="IProgress{T}"/>,
/// from whichever thread runs the loop.
/// </summary>
public readonly record struct WorkProgress(long Done, long Total, string? Detail = null);
