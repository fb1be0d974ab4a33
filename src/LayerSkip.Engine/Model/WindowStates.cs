using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Each calibration window's hidden state entering layer <see cref="Layer"/>, carried from one recording pass of
/// <see cref="InputGrams.Measure"/> to the next, so that the passes of a model recorded a few layers at a time run each
/// layer once rather than the whole model every time (the float weights do not change between passes).
/// </summary>
internal sealed class WindowStates(int windows) : IDisposable
{
    private readonly Tensor?[] _hidden = new Tensor?[windows];

    /// <summary>The layer the states enter; 0 before the first pass (the states are then the embeddings, not held).</summary>
    public int Layer { get; private set; }

    public int Count => _hidden.Length;

    /// <summary>Window <paramref name="i"/>'s state [1, tokens, hidden] entering <see cref="Layer"/>; null at layer 0.</summary>
    public Tensor? this[int i] => _hidden[i];

    /// <summary>Replaces window <paramref name="i"/>'s state by <paramref name="state"/>, taken from the caller's dispose scope.</summary>
    public void Set(int i, Tensor state)
    {
        if (ReferenceEquals(_hidden[i], state)) return; // a pass that ran no layer
        _hidden[i]?.Dispose();
        _hidden[i] = state.DetachFromDisposeScope();
    }

    /// <summary>Marks every window's state as the one entering <paramref name="layer"/>.</summary>
    public void Advance(int layer) => Layer = layer;

    public void Dispose()
    {
        foreach (var state in _hidden) state?.Dispose();
        Array.Clear(_hidden);
    }
}
