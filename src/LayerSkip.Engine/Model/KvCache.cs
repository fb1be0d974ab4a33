using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Keys and values for a batch of sequences, one [batch, kvHeads, capacity, headDim] tensor pair per held layer.
/// Each row keeps its own length, so sequences of different lengths decode together without padding tokens.
/// Layers a plan skips need no cache after prefill and are released (<see cref="KeepOnly"/>).
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;
    private readonly int _kvHeads, _headDim;
    private readonly ScalarType _dtype;
    private readonly Device _device;
    private int[] _lengths;

    public int Batch { get; private set; }
    public int Capacity { get; private set; }
    /// <summary>The most positions a row may ever hold (the engine's maximum sequence length).</summary>
    public int MaxCapacity { get; }
    public IReadOnlyList<int> Lengths => _lengths;
    public int LayerCount => _keys.Length;

    private KvCache(int layers, int kvHeads, int headDim, ScalarType dtype, Device device, int batch, int capacity, int maxCapacity)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
        _kvHeads = kvHeads; _headDim = headDim; _dtype = dtype; _device = device;
        Batch = batch; Capacity = capacity; MaxCapacity = maxCapacity;
        _lengths = new int[batch];
    }

    /// <summary>A cache for <paramref name="batch"/> empty rows holding every layer (or only those <paramref name="plan"/> runs).</summary>
    public static KvCache Create(ModelConfig c, int batch, int capacity, int maxCapacity, ScalarType dtype, Device device, LayerPlan? plan = null)
    {
        capacity = Math.Clamp(capacity, 1, maxCapacity);
        var cache = new KvCache(c.NumLayers, c.NumKeyValueHeads, c.HeadDim, dtype, device, batch, capacity, maxCapacity);
        for (var l = 0; l < c.NumLayers; l++)
            if (plan is null || plan.Runs(l))
                (cache._keys[l], cache._values[l]) = (cache.NewBlock(batch, capacity), cache.NewBlock(batch, capacity));
        return cache;
    }

    private Tensor NewBlock(int batch, int capacity) =>
        zeros([batch, _kvHeads, capacity, _headDim], _dtype, _device).DetachFromDisposeScope();

    public bool Holds(int layer) => _keys[layer] is not null;

    public IEnumerable<int> HeldLayers => Enumerable.Range(0, LayerCount).Where(Holds);

    public Tensor Keys(int layer) => _keys[layer] ?? throw new InvalidOperationException($"Layer {layer} holds no KV cache.");
    public Tensor Values(int layer) => _values[layer] ?? throw new InvalidOperationException($"Layer {layer} holds no KV cache.");

    /// <summary>Bytes held by all key and value tensors.</summary>
    public long Bytes => _keys.Concat(_values).OfType<Tensor>().Sum(t => t.NumberOfElements * t.ElementSize);

    /// <summary>Grows every held layer so each row can hold <paramref name="positions"/> entries (doubling, capped).</summary>
    public void EnsureCapacity(int positions)
    {
        if (positions <= Capacity) return;
        if (positions > MaxCapacity)
            throw new InvalidOperationException($"The sequence needs {positions} positions but the maximum sequence length is {MaxCapacity}.");
        var newCapacity = Math.Min(MaxCapacity, Math.Max(positions, Capacity * 2));
        for (var l = 0; l < LayerCount; l++)
        {
            if (_keys[l] is null) continue;
            _keys[l] = Grow(_keys[l]!, newCapacity);
            _values[l] = Grow(_values[l]!, newCapacity);
        }
        Capacity = newCapacity;
    }

    private Tensor Grow(Tensor old, int newCapacity)
    {
        var grown = NewBlock(Batch, newCapacity);
        grown.narrow(2, 0, Capacity).copy_(old);
        old.Dispose();
        return grown;
    }

    /// <summary>Marks <paramref name="count"/> more positions of every row as filled (after a forward pass wrote them).</summary>
    internal void Advance(int count)
    {
        for (var b = 0; b < Batch; b++) _lengths[b] += count;
    }

    /// <summary>Drops the cache of every layer the plan does not run: those layers never run again for these rows.</summary>
    public void KeepOnly(LayerPlan plan)
    {
        for (var l = 0; l < LayerCount; l++)
        {
            if (plan.Runs(l) || _keys[l] is null) continue;
            _keys[l]!.Dispose(); _values[l]!.Dispose();
            _keys[l] = _values[l] = null;
        }
    }

    /// <summary>Keeps only the given rows, in that order (sequences that finished leave the batch).</summary>
    public void SelectRows(IReadOnlyList<int> rows)
    {
        using var index = tensor(rows.Select(r => (long)r).ToArray(), ScalarType.Int64, _device);
        for (var l = 0; l < LayerCount; l++)
        {
            if (_keys[l] is null) continue;
            var k = _keys[l]!.index_select(0, index).DetachFromDisposeScope();
            var v = _values[l]!.index_select(0, index).DetachFromDisposeScope();
            _keys[l]!.Dispose(); _values[l]!.Dispose();
            (_keys[l], _values[l]) = (k, v);
        }
        _lengths = rows.Select(r => _lengths[r]).ToArray();
        Batch = rows.Count;
    }

    /// <summary>Appends the rows of <paramref name="other"/> (which must hold at least this cache's layers) as new rows.</summary>
    public void AppendRows(KvCache other)
    {
        var capacity = Math.Max(Capacity, other.Capacity);
        for (var l = 0; l < LayerCount; l++)
        {
            if (_keys[l] is null) continue;
            if (!other.Holds(l)) throw new InvalidOperationException($"The joining rows hold no cache for layer {l}.");
            _keys[l] = Concat(_keys[l]!, Capacity, other._keys[l]!, other.Capacity, capacity);
            _values[l] = Concat(_values[l]!, Capacity, other._values[l]!, other.Capacity, capacity);
        }
        Capacity = capacity;
        _lengths = [.. _lengths, .. other._lengths];
        Batch += other.Batch;
    }

    private Tensor Concat(Tensor mine, int myCapacity, Tensor theirs, int theirCapacity, int capacity)
    {
        var joined = zeros([mine.shape[0] + theirs.shape[0], _kvHeads, capacity, _headDim], _dtype, _device).DetachFromDisposeScope();
        joined.narrow(0, 0, mine.shape[0]).narrow(2, 0, myCapacity).copy_(mine);
        joined.narrow(0, mine.shape[0], theirs.shape[0]).narrow(2, 0, theirCapacity).copy_(theirs);
        mine.Dispose();
        return joined;
    }

    /// <summary>A batch-1 copy of row <paramref name="row"/>'s first <paramref name="length"/> positions, every held layer.</summary>
    public KvCache CopyPrefix(int row, int length, int capacity)
    {
        if (length > _lengths[row]) throw new ArgumentOutOfRangeException(nameof(length));
        capacity = Math.Clamp(Math.Max(capacity, length), 1, MaxCapacity);
        var copy = new KvCache(LayerCount, _kvHeads, _headDim, _dtype, _device, 1, capacity, MaxCapacity);
        for (var l = 0; l < LayerCount; l++)
        {
            if (_keys[l] is null) continue;
            copy._keys[l] = copy.NewBlock(1, capacity);
            copy._values[l] = copy.NewBlock(1, capacity);
            if (length == 0) continue;
            copy._keys[l]!.narrow(2, 0, length).copy_(_keys[l]!.narrow(0, row, 1).narrow(2, 0, length));
            copy._values[l]!.narrow(2, 0, length).copy_(_values[l]!.narrow(0, row, 1).narrow(2, 0, length));
        }
        copy._lengths[0] = length;
        return copy;
    }

    /// <summary>A copy of every row, holding only the layers <paramref name="plan"/> runs (all layers when null).</summary>
    public KvCache Clone(LayerPlan? plan = null)
    {
        var copy = new KvCache(LayerCount, _kvHeads, _headDim, _dtype, _device, Batch, Capacity, MaxCapacity);
        for (var l = 0; l < LayerCount; l++)
        {
            if (_keys[l] is null || (plan is not null && !plan.Runs(l))) continue;
            copy._keys[l] = _keys[l]!.clone().DetachFromDisposeScope();
            copy._values[l] = _values[l]!.clone().DetachFromDisposeScope();
        }
        copy._lengths = _lengths.ToArray();
        return copy;
    }

    /// <summary>Forgets positions past <paramref name="length"/> in every row (keeps the tensors).</summary>
    public void Truncate(int row, int length) => _lengths[row] = Math.Min(_lengths[row], length);

    public void Dispose()
    {
        for (var l = 0; l < LayerCount; l++)
        {
            _keys[l]?.Dispose(); _values[l]?.Dispose();
            _keys[l] = _values[l] = null;
        }
    }
}
