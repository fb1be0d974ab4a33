using System.Runtime.InteropServices;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model.Kernels;
using LayerSkip.Engine.Skipping;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Decode steps (a few new tokens: one per row, or a short chunk such as a speculative verification) computed directly
/// on the memory of the weights, the KV cache and float32 activation rows: per layer, four kernel products and a
/// handful of vector loops. The general
/// <see cref="DecoderModel.Forward"/> path issues about seventy libtorch calls per layer, whose fixed cost is most of a
/// small model's step and a fifth of a quantized 1B model's. Both paths compute the same function; this one keeps the
/// residual stream in float32 between layers.
/// </summary>
internal sealed unsafe class FusedDecoder : IDisposable
{
    /// <summary>
    /// Up to this many new tokens (rows × chunk) run here: the kernels read each weight once for all of them. Larger
    /// batches and prompts share each weight read better through libtorch's blocked products.
    /// </summary>
    public const int MaxTokens = 8;

    /// <summary>
    /// A speculative verification of up to <see cref="MaxTokens"/> rows runs here whatever its chunk (up to this), so it
    /// takes the path those rows' decode steps take: a row's numbers never depend on its batch-mates' draft lengths.
    /// </summary>
    public const int MaxVerifyChunk = 16;

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
    private readonly Func<Tensor, Tensor> _embed;
    private readonly double[] _inverseFrequencies;
    private readonly float _eps, _scale;
    private readonly int _qDim, _kvDim;
    private readonly NativeScratch _scratch = new();

    /// <param name="embed">Embedding rows of token ids (a quantized model with tied embeddings dequantizes them).</param>
    public FusedDecoder(ModelConfig config, ModelWeights weights, LayerProjections[] projections, Projection lmHead, Func<Tensor, Tensor> embed)
    {
        _c = config; _w = weights; _projections = projections; _lmHead = lmHead; _embed = embed;
        _inverseFrequencies = RotaryEmbedding.InverseFrequencies(config);
        _eps = (float)config.RmsNormEps;
        _scale = (float)(1.0 / Math.Sqrt(config.HeadDim));
        _qDim = config.NumHeads * config.HeadDim;
        _kvDim = config.NumKeyValueHeads * config.HeadDim;
    }

    /// <summary>
    /// Whether this step can run here: a few new tokens, CPU memory, and no weight that is being trained (gradients
    /// need libtorch's graph).
    /// </summary>
    public bool CanRun(Tensor tokens, KvCache cache, LayerPlan? plan, bool verification = false)
    {
        var fits = verification ? tokens.shape[0] <= MaxTokens && tokens.shape[1] <= MaxVerifyChunk : tokens.NumberOfElements <= MaxTokens;
        if (!Enabled || !fits || tokens.device_type != DeviceType.CPU) return false;
        if (_lmHead.Kernel is null || !Readable(_w.FinalNorm)) return false;
        var training = is_grad_enabled() && (_w.FinalNorm.requires_grad || (_w.TiedEmbeddings ? _w.HoldsLmHead && _w.LmHead.requires_grad : _w.Embedding.requires_grad));
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

    /// <summary>
    /// Appends tokens [rows, chunk] to <paramref name="cache"/> and returns float32 logits [rows, chunk, vocab], or
    /// [rows, 1, vocab] for the last position only.
    /// </summary>
    /// <param name="draft">Lower-precision copies to multiply with instead of the model's own kernels (a draft step).</param>
    public Tensor Forward(Tensor tokens, KvCache cache, LayerPlan? plan, bool lastPositionOnly, DraftWeights? draft = null)
    {
        int rows = (int)tokens.shape[0], chunk = (int)tokens.shape[1], n = rows * chunk, h = _c.HiddenSize;
        var ids = tokens.to(ScalarType.Int64).contiguous().data<long>().ToArray();
        // Token i = (row, j) sits at position start[row] + j and sees its row up to itself.
        var starts = cache.Lengths.ToArray();
        var cacheRows = new int[n];
        var positions = new int[n];
        for (var i = 0; i < n; i++) (cacheRows[i], positions[i]) = (i / chunk, starts[i / chunk] + i % chunk);
        var lengths = positions.Select(p => p + 1).ToArray();
        cache.EnsureCapacity(lengths.Max());
        var threads = RowParallel.Shared(get_num_threads());

        var x = _scratch.Floats(0, n * h);
        foreach (var id in ids)
            if (id < 0 || id >= _c.VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {id} is outside the vocabulary.");
        Embed(tokens, ids, x);
        Rotation(positions, out var cos, out var sin);
        for (var l = 0; l < _c.NumLayers; l++)
            if (plan is null || plan.Runs(l)) Layer(l, x, n, cos, sin, cacheRows, positions, lengths, cache, threads, draft?[l]);
        cache.Advance(chunk);
        Steps++;

        // The LM head for the positions asked for: each row's last, or all.
        var outputs = lastPositionOnly ? Enumerable.Range(0, rows).Select(r => r * chunk + chunk - 1).ToArray() : Enumerable.Range(0, n).ToArray();
        var normed = _scratch.Floats(1, outputs.Length * h);
        for (var o = 0; o < outputs.Length; o++) VectorMath.RmsNorm(x + (long)outputs[o] * h, Memory(_w.FinalNorm), normed + (long)o * h, h, _eps);
        var logits = empty([rows, outputs.Length / rows, _c.VocabSize], ScalarType.Float32);
        (draft?.LmHead ?? _lmHead.Kernel!).Multiply(normed, outputs.Length, (float*)TensorMemory.Pointer(logits), 0, _c.VocabSize, threads);
        return logits;
    }

    /// <summary>
    /// The embedding rows of <paramref name="ids"/> into x as float32: read in place from a float embedding matrix, or
    /// through the model's lookup where the rows exist only quantized (a quantized model with tied embeddings).
    /// </summary>
    private void Embed(Tensor tokens, long[] ids, float* x)
    {
        var h = _c.HiddenSize;
        if ((!_w.TiedEmbeddings || _w.HoldsLmHead) && Readable(_w.Embedding))
        {
            var rows = Memory(_w.Embedding);
            for (var i = 0; i < ids.Length; i++) VectorMath.Load(rows.Offset(ids[i] * h), x + (long)i * h, h);
            return;
        }
        using var embedded = _embed(tokens.reshape(-1));
        using var floats = embedded.to(ScalarType.Float32).contiguous();
        new ReadOnlySpan<float>((void*)TensorMemory.Pointer(floats), ids.Length * h).CopyTo(new Span<float>(x, ids.Length * h));
    }

    private void Layer(int l, float* x, int n, float* cos, float* sin, int[] cacheRows, int[] positions, int[] lengths, KvCache cache,
        RowParallel threads, DraftWeights.Layer? draft)
    {
        var w = _w.Layers[l];
        var p = _projections[l];
        IMatVec qkvKernel = draft?.Qkv ?? p.Qkv.Kernel!, outputKernel = draft?.Output ?? p.Output.Kernel!,
            gateUpKernel = draft?.GateUp ?? p.GateUp.Kernel!, downKernel = draft?.Down ?? p.Down.Kernel!;
        int h = _c.HiddenSize, hd = _c.HeadDim, qkvDim = _qDim + 2 * _kvDim, inter = _c.IntermediateSize;
        var normed = _scratch.Floats(1, n * h);
        var qkv = _scratch.Floats(2, n * qkvDim);
        var queries = _scratch.Floats(3, n * _qDim);
        var delta = _scratch.Floats(4, n * h);
        var gateUp = _scratch.Floats(5, n * 2 * inter);
        var activated = _scratch.Floats(6, n * inter);
        var attended = _scratch.Floats(7, n * _qDim);

        // Attention: norm, q/k/v, rotary positions, the new keys and values into the cache, attend, project back.
        for (var i = 0; i < n; i++) VectorMath.RmsNorm(x + (long)i * h, Memory(w.InputNorm), normed + (long)i * h, h, _eps);
        qkvKernel.Multiply(normed, n, qkv, 0, qkvDim, threads);
        var keys = Memory(cache.Keys(l));
        var values = Memory(cache.Values(l));
        for (var i = 0; i < n; i++)
        {
            var row = qkv + (long)i * qkvDim;
            float* c = cos + i * hd / 2, s = sin + i * hd / 2;
            if (w.QkvBias is not null) VectorMath.Add(row, Memory(w.QkvBias), qkvDim);
            for (var head = 0; head < _c.NumHeads; head++) PositionHead(row + head * hd, w.QNorm, c, s);
            for (var head = 0; head < _c.NumKeyValueHeads; head++)
            {
                var k = row + _qDim + head * hd;
                PositionHead(k, w.KNorm, c, s);
                var slot = (((long)cacheRows[i] * _c.NumKeyValueHeads + head) * cache.Capacity + positions[i]) * hd;
                VectorMath.Store(k, keys.Offset(slot), hd);
                VectorMath.Store(row + _qDim + _kvDim + head * hd, values.Offset(slot), hd);
            }
            new Span<float>(row, _qDim).CopyTo(new Span<float>(queries + (long)i * _qDim, _qDim));
        }
        var scores = _scratch.Floats(8, (long)n * _c.NumHeads * lengths.Max());
        CachedAttention.Attend(queries, keys, values, cacheRows, lengths, _c.NumKeyValueHeads, _c.QueryGroups, cache.Capacity, hd, _scale,
            scores, attended, threads);
        outputKernel.Multiply(attended, n, delta, 0, h, threads);
        VectorMath.Add(x, delta, n * h);

        // Feed-forward: norm, gate and up together, silu(gate) · up, down.
        for (var i = 0; i < n; i++) VectorMath.RmsNorm(x + (long)i * h, Memory(w.PostAttentionNorm), normed + (long)i * h, h, _eps);
        gateUpKernel.Multiply(normed, n, gateUp, 0, 2 * inter, threads);
        for (var i = 0; i < n; i++)
        {
            var gu = gateUp + (long)i * 2 * inter;
            VectorMath.SiluTimes(gu, gu + inter, activated + (long)i * inter, inter);
        }
        downKernel.Multiply(activated, n, delta, 0, h, threads);
        VectorMath.Add(x, delta, n * h);
    }

    /// <summary>Qwen3's per-head norm (when the model has one), then the rotary embedding.</summary>
    private void PositionHead(float* head, Tensor? norm, float* cos, float* sin)
    {
        if (norm is not null) VectorMath.RmsNorm(head, Memory(norm), head, _c.HeadDim, _eps);
        VectorMath.Rotate(head, cos, sin, _c.HeadDim);
    }

    /// <summary>cos and sin of every rotary angle at each token's position: [tokens, headDim / 2] each.</summary>
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
