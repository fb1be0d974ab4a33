using LayerSkip.Engine.Model.Kernels;

namespace LayerSkip.Engine.Model;

/// <summary>Kernels fitted ahead of building the model (see <see cref="GptqCalibration"/>), handed over to its projections.</summary>
internal sealed class FittedProjections : IDisposable
{
    private readonly Dictionary<(int Layer, ProjectionKind Kind), IMatVec> _kernels = new();

    public int Count => _kernels.Count;

    public void Add(int layer, ProjectionKind kind, IMatVec kernel) => _kernels.Add(Key(layer, kind), kernel);

    /// <summary>The projection's kernel, which the caller now owns, or null when none was fitted.</summary>
    public IMatVec? Take(int layer, ProjectionKind kind) => _kernels.Remove(Key(layer, kind), out var kernel) ? kernel : null;

    /// <summary>Disposes the kernels nobody took.</summary>
    public void Dispose()
    {
        foreach (var kernel in _kernels.Values) kernel.Dispose();
        _kernels.Clear();
    }

    private static (int, ProjectionKind) Key(int layer, ProjectionKind kind) => (kind == ProjectionKind.LmHead ? -1 : layer, kind);
}
