using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// The Gram matrix H = Σ x xᵀ [in, in] of the inputs x of some projections over calibration tokens. A weight row's
/// error Δw reaches the output as Δw · x, so its summed squared error is Δw H Δwᵀ: the second moments the GPTQ-style
/// fit (<see cref="Kernels.Int4MatVec.QuantizeGptq"/>) trades rounding errors against. Only the layers in
/// [<see cref="FirstLayer"/>, <see cref="EndLayer"/>) (and the LM head if asked) are recorded, because a large model's
/// Grams do not all fit in memory at once (a down projection of 8192 inputs alone takes 512 MB in float64).
/// </summary>
internal sealed class InputGrams : IDisposable
{
    private const int PerLayer = 4; // Qkv, Output, GateUp, Down
    private const long Tile = 1024;
    private readonly Tensor?[] _grams;
    private readonly long[] _tokens;
    private readonly bool _lmHead;

    public int FirstLayer { get; }
    public int EndLayer { get; }

    public InputGrams(int firstLayer, int endLayer, bool lmHead)
    {
        if (firstLayer < 0 || endLayer < firstLayer) throw new ArgumentOutOfRangeException(nameof(endLayer), $"No layers [{firstLayer}, {endLayer}).");
        (FirstLayer, EndLayer, _lmHead) = (firstLayer, endLayer, lmHead);
        _grams = new Tensor?[(endLayer - firstLayer) * PerLayer + 1];
        _tokens = new long[_grams.Length];
    }

    /// <summary>Whether the inputs of <paramref name="kind"/> in <paramref name="layer"/> are recorded (layer ignored for the LM head).</summary>
    public bool Records(int layer, ProjectionKind kind) =>
        kind == ProjectionKind.LmHead ? _lmHead : layer >= FirstLayer && layer < EndLayer;

    /// <summary>Adds the rows of <paramref name="input"/> [..., columns] if <see cref="Records"/> the projection, else does nothing.</summary>
    public void Add(int layer, ProjectionKind kind, Tensor input)
    {
        if (!Records(layer, kind)) return;
        var slot = Slot(layer, kind);
        var columns = input.shape[^1];
        using var scope = NewDisposeScope();
        // Each call's products in float32 (one window: a few hundred tokens, twice as fast as float64), summed in
        // float64 across calls, where a few thousand tokens would lose the small columns' digits. Only the tiles on
        // and above the diagonal are summed (H is symmetric; Gram fills the rest), which saves up to half the work.
        var rows = input.detach().to(ScalarType.Float32, CPU).reshape(-1, columns);
        if (_grams[slot] is not { } gram)
            _grams[slot] = gram = zeros(columns, columns, ScalarType.Float64).DetachFromDisposeScope(); // owned here, past the caller's scopes
        else if (gram.shape[0] != columns) throw new ArgumentException($"{kind} inputs have {gram.shape[0]} columns, not {columns}.", nameof(input));
        for (long i = 0; i < columns; i += Tile)
        {
            var left = rows.narrow(1, i, Math.Min(Tile, columns - i)).t();
            for (var j = i; j < columns; j += Tile)
            {
                var width = Math.Min(Tile, columns - j);
                gram.narrow(0, i, left.shape[0]).narrow(1, j, width).add_(left.matmul(rows.narrow(1, j, width)), LiveScalars.One);
            }
        }
        _tokens[slot] += rows.shape[0];
    }

    /// <summary>Σ x xᵀ [in, in] (float64, CPU) of the projection's inputs, or null when none were recorded; owned by this.</summary>
    public Tensor? Gram(int layer, ProjectionKind kind) => Records(layer, kind) ? Symmetric(_grams[Slot(layer, kind)]) : null;

    /// <summary>
    /// <see cref="Gram"/>, handed over to the caller (who disposes it) and no longer held here: a fit can release each
    /// Gram as soon as it is done with it rather than at the end of the pass.
    /// </summary>
    public Tensor? Take(int layer, ProjectionKind kind)
    {
        var gram = Gram(layer, kind);
        if (gram is not null) _grams[Slot(layer, kind)] = null;
        return gram;
    }

    private static Tensor? Symmetric(Tensor? gram)
    {
        if (gram is null) return null;
        using var scope = NewDisposeScope();
        var columns = gram.shape[0];
        for (long i = Tile; i < columns; i += Tile) // the tiles below the diagonal, from those above it
        {
            var height = Math.Min(Tile, columns - i);
            gram.narrow(0, i, height).narrow(1, 0, i).copy_(gram.narrow(0, 0, i).narrow(1, i, height).t());
        }
        return gram;
    }

    /// <summary>Tokens recorded for the projection.</summary>
    public long Tokens(int layer, ProjectionKind kind) => Records(layer, kind) ? _tokens[Slot(layer, kind)] : 0;

    /// <summary>
    /// Runs <paramref name="windows"/> (token ids, each one sequence from an empty cache) through the float
    /// <paramref name="model"/> and records the inputs of layers [<paramref name="firstLayer"/>,
    /// <paramref name="endLayer"/>) and, with <paramref name="lmHead"/>, the LM head's. Without <paramref name="states"/>
    /// the windows start at the embedding; with them, at the layer the states enter (at most
    /// <paramref name="firstLayer"/>), and the states move on to the layer where this pass stops, ready for the next pass.
    /// </summary>
    public static InputGrams Measure(DecoderModel model, IReadOnlyList<int[]> windows, int firstLayer, int endLayer, bool lmHead, WindowStates? states = null)
    {
        if (windows.Count == 0 || windows.Any(w => w.Length == 0))
            throw new ArgumentException("Input Gram matrices need at least one non-empty window of tokens.", nameof(windows));
        if (endLayer > model.Config.NumLayers) throw new ArgumentOutOfRangeException(nameof(endLayer), $"The model has {model.Config.NumLayers} layers.");
        if (states is not null && (states.Count != windows.Count || states.Layer > firstLayer))
            throw new ArgumentException($"States of {states.Count} windows entering layer {states.Layer} cannot start a pass of {windows.Count} windows at layer {firstLayer}.", nameof(states));
        var grams = new InputGrams(firstLayer, endLayer, lmHead);
        var (from, to) = (states?.Layer ?? 0, lmHead ? model.Config.NumLayers : endLayer);
        try
        {
            for (var i = 0; i < windows.Count; i++)
            {
                using (NewDisposeScope())
                using (no_grad())
                using (var cache = model.CreateCache(1, windows[i].Length))
                {
                    var tokens = tensor(windows[i].Select(t => (long)t).ToArray(), [1, windows[i].Length], device: model.Device);
                    var state = model.Record(tokens, states?[i], from, to, cache, grams);
                    states?.Set(i, state);
                }
                NativeHeap.Trim(); // the window's activations: freed heap blocks glibc would otherwise keep
            }
            states?.Advance(to);
            return grams;
        }
        catch
        {
            grams.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var gram in _grams) gram?.Dispose();
        Array.Clear(_grams);
    }

    private int Slot(int layer, ProjectionKind kind) =>
        kind == ProjectionKind.LmHead ? _grams.Length - 1 : (layer - FirstLayer) * PerLayer + (int)kind;
}
