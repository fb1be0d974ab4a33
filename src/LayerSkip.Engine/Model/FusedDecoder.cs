using System.Runtime.InteropServices;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model.Kernels;
using LayerSkip.Engine.Skipping;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// The decode step (one new token for each of a few rows) computed directly on the memory of the weights, the KV cache
/// and float32 activation rows: per layer, four kernel products and a handful of vector loops. The general
/// <see cref="DecoderModel.Forward"/> path issues about seventy libtorch calls per layer, whose fixed cost is most of a
/// small model's step and a fifth of a quantized 1B model's. Both paths compute the same function; this one keeps the
/// residual stream in float32 between layers.
/// </summary>
internal sealed unsafe class FusedDecoder : IDisposable
{
    /// <summary>Up to this many rows decode here; larger batches share each weight read better through libtorch.</summary>
    public const int MaxRows = 4;

    /// <summary>Set LAYERSKIP_FUSED_DECODE=0 to decode through libtorch only (to compare the two paths).</summary>
    public static bool EnabledByDefault { get; } = Environment.GetEnvironmentVariable("LAYERSKIP_FUSED_DECODE") != "0";

    /// <summary>Whether steps that can run here do (tests switch it off to compare with the libtorch path).</summary>
    public bool Enabled { get; set; } = EnabledByDefault;

    /// <summary>How many steps ran here (tests check that the path they compare really ran).</summary>
    public long Steps { get; private set; }

    private readonly ModelConfig _c;
    private readonly ModelWeights _w;
    private readonly LayerProjections[] _projections;
    private readonly Projection _lmHead;
    private readonly double[] _inverseFrequencies;
    private readonly float _eps, _scale;
    private readonly int _qDim, _kvDim;
    private readonly NativeScratch _scratch = new();

    public FusedDecoder(ModelConfig config, ModelWeights weights, LayerProjections[] projections, Projection lmHead)
    {
        _c = config; _w = weights; _projections = projections; _lmHead = lmHead;
        _inverseFrequencies = RotaryEmbedding.InverseFrequencies(config);
        _eps = (float)config.RmsNormEps;
        _scale = (float)(1.0 / Math.Sqrt(config.HeadDim));
        _qDim = config.NumHeads * config.HeadDim;
        _kvDim = config.NumKeyValueHeads * config.HeadDim;
    }

    /// <summary>
    /// Whether this step can run here: a single new token per row, few rows, CPU memory, and no weight that is being
    /// trained (gradients need libtorch's graph).
    /// </summary>
    public bool CanRun(Tensor tokens, KvCache cache, LayerPlan? plan)
    {
        if (!Enabled || tokens.shape[1] != 1 || tokens.shape[0] > MaxRows || tokens.device_type != DeviceType.CPU) return false;
        if (_lmHead.Kernel is null || !Readable(_w.Embedding) || !Readable(_w.FinalNorm)) return false;
        var training = is_grad_enabled() && (_w.Embedding.requires_grad || _w.FinalNorm.requires_grad);
        for (var l = 0; l < _c.NumLayers && !training; l++)
        {
            if (plan is not null && !plan.Runs(l)) continue;
            var p = _projections[l];
            if (p.Qkv.Kernel is null || p.Output.Kernel is null || p.GateUp.Kernel is null || p.Down.Kernel is null) return false;
            if (!cache.Holds(l) || !Readable(cache.Keys(l)) || !Readable(_w.Layers[l].InputNorm)) return false;
            training = is_grad_enabled() && _w.Layers[l].All().Any(t => t.requires_grad);
        }
        return !training;
    }

    private static bool Readable(Tensor t) =>
        t.device_type == DeviceType.CPU && t.is_contiguous() && t.dtype is ScalarType.BFloat16 or ScalarType.Float32;

    /// <summary>Appends one token per row to <paramref name="cache"/> and returns float32 logits [rows, 1, vocab].</summary>
    public Tensor Forward(Tensor tokens, KvCache cache, LayerPlan? plan)
    {
        var rows = (int)tokens.shape[0];
        var ids = tokens.to(ScalarType.Int64).contiguous().data<long>().ToArray();
        var positions = cache.Lengths.ToArray();
        cache.EnsureCapacity(positions.Max() + 1);
        var threads = RowParallel.Shared(get_num_threads());
        var h = _c.HiddenSize;
        var x = _scratch.Floats(0, rows * h);
        for (var r = 0; r < rows; r++)
        {
            if (ids[r] < 0 || ids[r] >= _c.VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {ids[r]} is outside the vocabulary.");
            VectorMath.Load(Memory(_w.Embedding).Offset(ids[r] * h), x + (long)r * h, h);
        }
        Rotation(positions, out var cos, out var sin);
        var lengths = positions.Select(p => p + 1).ToArray();
        for (var l = 0; l < _c.NumLayers; l++)
            if (plan is null || plan.Runs(l)) Layer(l, x, rows, cos, sin, positions, lengths, cache, threads);
        cache.Advance(1);
        Steps++;

        var normed = _scratch.Floats(1, rows * h);
        for (var r = 0; r < rows; r++) VectorMath.RmsNorm(x + (long)r * h, Memory(_w.FinalNorm), normed + (long)r * h, h, _eps);
        var logits = empty([rows, 1, _c.VocabSize], ScalarType.Float32);
        _lmHead.Kernel!.Multiply(normed, rows, (float*)TensorMemory.Pointer(logits), 0, _c.VocabSize, threads);
        return logits;
    }

    private void Layer(int l, float* x, int rows, float* cos, float* sin, int[] positions, int[] lengths, KvCache cache, RowParallel threads)
    {
        var w = _w.Layers[l];
        var p = _projections[l];
        int h = _c.HiddenSize, hd = _c.HeadDim, qkvDim = _qDim + 2 * _kvDim, inter = _c.IntermediateSize;
        var normed = _scratch.Floats(1, rows * h);
        var qkv = _scratch.Floats(2, rows * qkvDim);
        var queries = _scratch.Floats(3, rows * _qDim);
        var attended = _scratch.Floats(7, rows * _qDim);
        var delta = _scratch.Floats(4, rows * h);
        var gateUp = _scratch.Floats(5, rows * 2 * inter);
        var activated = _scratch.Floats(6, rows * inter);

        // Attention: norm, q/k/v, rotary positions, this token's keys and values into the cache, attend, project back.
        for (var r = 0; r < rows; r++) VectorMath.RmsNorm(x + (long)r * h, Memory(w.InputNorm), normed + (long)r * h, h, _eps);
        p.Qkv.Kernel!.Multiply(normed, rows, qkv, 0, qkvDim, threads);
        var keys = Memory(cache.Keys(l));
        var values = Memory(cache.Values(l));
        for (var r = 0; r < rows; r++)
        {
            var row = qkv + (long)r * qkvDim;
            if (w.QkvBias is not null) VectorMath.Add(row, Memory(w.QkvBias), qkvDim);
            for (var head = 0; head < _c.NumHeads; head++) PositionHead(row + head * hd, w.QNorm, cos + r * hd / 2, sin + r * hd / 2);
            for (var head = 0; head < _c.NumKeyValueHeads; head++)
            {
                var k = row + _qDim + head * hd;
                PositionHead(k, w.KNorm, cos + r * hd / 2, sin + r * hd / 2);
                var slot = (((long)r * _c.NumKeyValueHeads + head) * cache.Capacity + positions[r]) * hd;
                VectorMath.Store(k, keys.Offset(slot), hd);
                VectorMath.Store(row + _qDim + _kvDim + head * hd, values.Offset(slot), hd);
            }
            new Span<float>(row, _qDim).CopyTo(new Span<float>(queries + (long)r * _qDim, _qDim));
        }
        var scores = _scratch.Floats(8, (long)rows * _c.NumHeads * lengths.Max());
        CachedAttention.Attend(queries, keys, values, lengths, _c.NumKeyValueHeads, _c.QueryGroups, cache.Capacity, hd, _scale,
            scores, attended, threads);
        p.Output.Kernel!.Multiply(attended, rows, delta, 0, h, threads);
        VectorMath.Add(x, delta, rows * h);

        // Feed-forward: norm, gate and up together, silu(gate) · up, down.
        for (var r = 0; r < rows; r++) VectorMath.RmsNorm(x + (long)r * h, Memory(w.PostAttentionNorm), normed + (long)r * h, h, _eps);
        p.GateUp.Kernel!.Multiply(normed, rows, gateUp, 0, 2 * inter, threads);
        for (var r = 0; r < rows; r++)
        {
            var gu = gateUp + (long)r * 2 * inter;
            VectorMath.SiluTimes(gu, gu + inter, activated + (long)r * inter, inter);
        }
        p.Down.Kernel!.Multiply(activated, rows, delta, 0, h, threads);
        VectorMath.Add(x, delta, rows * h);
    }

    /// <summary>Qwen3's per-head norm (when the model has one), then the rotary embedding.</summary>
    private void PositionHead(float* head, Tensor? norm, float* cos, float* sin)
    {
        if (norm is not null) VectorMath.RmsNorm(head, Memory(norm), head, _c.HeadDim, _eps);
        VectorMath.Rotate(head, cos, sin, _c.HeadDim);
    }

    /// <summary>cos and sin of every rotary angle at each row's position: [rows, headDim / 2] each.</summary>
    private void Rotation(int[] positions, out float* cos, out float* sin)
    {
        var half = _c.HeadDim / 2;
        cos = _scratch.Floats(9, positions.Length * half);
        sin = _scratch.Floats(10, positions.Length * half);
        for (var r = 0; r < positions.Length; r++)
            for (var j = 0; j < half; j++)
            {
                var angle = positions[r] * _inverseFrequencies[j];
                cos[r * half + j] = (float)Math.Cos(angle);
                sin[r * half + j] = (float)Math.Sin(angle);
            }
    }

    private static FloatMemory Memory(Tensor t) => new((void*)TensorMemory.Pointer(t), t.dtype == ScalarType.BFloat16);

    public void Dispose() => _scratch.Dispose();

    /// <summary>Float buffers reused from step to step, one per slot, grown on demand.</summary>
    private sealed class NativeScratch : IDisposable
    {
        private readonly IntPtr[] _buffers = new IntPtr[11];
        private readonly long[] _sizes = new long[11];

        public float* Floats(int slot, long count)
        {
            if (_sizes[slot] < count)
            {
                NativeMemory.AlignedFree((void*)_buffers[slot]);
                _buffers[slot] = (IntPtr)NativeMemory.AlignedAlloc((nuint)(count * sizeof(float)), 64);
                _sizes[slot] = count;
            }
            return (float*)_buffers[slot];
        }

        public void Dispose()
        {
            for (var i = 0; i < _buffers.Length; i++)
            {
                NativeMemory.AlignedFree((void*)_buffers[i]);
                _buffers[i] = IntPtr.Zero;
                _sizes[i] = 0;
            }
        }
    }
}
