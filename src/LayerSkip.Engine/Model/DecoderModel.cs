using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Skipping;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerSkip.Engine.Model;

/// <summary>Sees each executed layer's input and output hidden states (used to calibrate layer importance).</summary>
public delegate void LayerObserver(int layer, Tensor input, Tensor output);

/// <summary>
/// Token-level routing (Zeng et al. 2023): per layer, which tokens run it. A skipped token passes through the layer
/// unchanged, but its keys and values are still computed so later tokens see a complete cache.
/// </summary>
public interface ILayerRouter
{
    /// <summary>A bool tensor [batch, chunk] of tokens that run <paramref name="layer"/> given its input, or null to run all.</summary>
    Tensor? RunMask(int layer, Tensor layerInput);

    /// <summary>
    /// Merges a layer's output with its input for the mask <see cref="RunMask"/> returned: running tokens take the
    /// output, skipped ones keep the input. Routers being trained override it to pass gradients to their gates.
    /// </summary>
    Tensor Combine(int layer, Tensor run, Tensor layerOutput, Tensor layerInput) => where(run.unsqueeze(-1), layerOutput, layerInput);
}

/// <summary>
/// A LLaMA-family decoder (Llama, Mistral, Qwen2 biases, Qwen3 q/k norms) running on TorchSharp.
/// One forward pass appends a chunk of tokens to every row of a <see cref="KvCache"/>, running either all
/// layers or only those a <see cref="LayerPlan"/> keeps; skipped layers pass the hidden state through unchanged.
/// Not thread-safe: the engine calls it from its one engine thread.
/// </summary>
public sealed class DecoderModel : IDisposable
{
    private readonly RotaryEmbedding _rope;
    private readonly double _scale;
    // Long-lived Scalars for the libtorch path: a temporary Scalar can be finalised while libtorch still reads it.
    private readonly Scalar _scaleScalar, _epsScalar;
    private static readonly Scalar NegativeInfinity = double.NegativeInfinity.ToScalar();
    private readonly LayerProjections[] _projections;
    private readonly Projection _lmHead;
    private readonly DequantizationScratch? _scratch;
    private readonly FusedDecoder _fused;
    private readonly Dictionary<WeightFormat, DraftWeights> _drafts = new();
    private readonly bool _ownsWeights = true;
    private InputGrams? _recording;

    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    /// <summary>The longest sequence (prompt plus output) this instance accepts.</summary>
    public int MaxSequenceLength { get; }
    /// <summary>How the linear layers' weights are stored for decoding.</summary>
    public WeightQuantization Quantization { get; }
    /// <summary>Bytes one full-depth decode step reads from the layers' projections and the LM head.</summary>
    public long StreamedLayerBytes => _projections.Sum(p => p.StreamedBytes);
    public long StreamedHeadBytes => _lmHead.StreamedBytes;
    /// <summary>
    /// Bytes the weights occupy: the float tensors still held plus the packed quantized matrices. The scratch buffer
    /// a quantized model expands weights into for prefill is not included (see <see cref="ScratchBytes"/>).
    /// </summary>
    public long WeightBytes => Weights.Bytes + _projections.Sum(p => p.PackedBytes) + _lmHead.PackedBytes;
    /// <summary>Bytes of the shared buffer a quantized model dequantizes weights into (0 until prefill first needs it).</summary>
    public long ScratchBytes => _scratch?.Bytes ?? 0;

    /// <summary>Bytes one decode step under <paramref name="plan"/> reads: its layers' projections and the LM head.</summary>
    public long StreamedBytes(LayerPlan? plan) =>
        _projections.Where((_, l) => plan is null || plan.Runs(l)).Sum(p => p.StreamedBytes) + _lmHead.StreamedBytes;

    /// <summary>Extra memory held by the lower-precision draft copies made by <see cref="PrepareDraftWeights"/>.</summary>
    public long DraftWeightBytes => _drafts.Values.Sum(d => d.Bytes);

    /// <summary>
    /// Makes (once) <paramref name="precision"/> copies of the projections for speculative drafts that run at a lower
    /// precision than the model, and returns the bytes the copy takes: 0 when <paramref name="precision"/> is
    /// <see cref="WeightFormat.None"/> or the model's own format (drafts then use the model's weights). The model's
    /// own weights are untouched: prefill and verification keep running at the model's precision.
    /// </summary>
    /// <exception cref="ArgumentException">The weights are not CPU bfloat16/float32 (the quantized kernels run on CPU only).</exception>
    public long PrepareDraftWeights(WeightFormat precision)
    {
        if (precision == WeightFormat.None || precision == Quantization.Format) return 0;
        if (!_drafts.TryGetValue(precision, out var draft))
        {
            var groupSize = Quantization.Format == WeightFormat.Int4 ? Quantization.GroupSize : WeightQuantization.DefaultGroupSize;
            using var _ = no_grad();
            _drafts[precision] = draft = new DraftWeights(Weights.Layers.Count, DequantizedWeight, Weights.NormBefore, new WeightQuantization(precision, groupSize));
        }
        return draft.Bytes;
    }

    /// <summary>
    /// Bytes one draft step streams from the projections and the LM head with <paramref name="plan"/> (null: all layers)
    /// at <paramref name="precision"/>; the ratio to a full step's bytes predicts the draft's cost where decode is memory-bound.
    /// </summary>
    public long DraftStreamedBytes(LayerPlan? plan, WeightFormat precision)
    {
        return DraftFor(precision) is { } d ? d.StreamedBytes(l => plan is null || plan.Runs(l)) : StreamedBytes(plan);
    }

    private DraftWeights? DraftFor(WeightFormat precision)
    {
        if (precision == WeightFormat.None || precision == Quantization.Format) return null;
        return _drafts.TryGetValue(precision, out var d) ? d
            : throw new InvalidOperationException($"No {precision} draft weights: call PrepareDraftWeights({precision}) first.");
    }

    /// <summary>
    /// Whether steps of a few new tokens run through <see cref="FusedDecoder"/> (the default) rather than libtorch;
    /// tests switch it off to compare the two.
    /// </summary>
    internal bool FusedDecode { get => _fused.Enabled; set => _fused.Enabled = value; }

    /// <summary>Decode steps that ran through <see cref="FusedDecoder"/>.</summary>
    internal long FusedSteps => _fused.Steps;

    /// <summary>
    /// Wraps <paramref name="weights"/>. With <paramref name="quantization"/>, every linear layer and the LM head are
    /// quantized and their float matrices freed (with tied embeddings, the embedding table too: lookups dequantize the
    /// rows they need; an untied embedding table stays in the compute dtype). Prefill and scoring expand each quantized
    /// weight into one shared scratch buffer for libtorch, so every path runs the same quantized model.
    /// </summary>
    public DecoderModel(ModelConfig config, ModelWeights weights, ScalarType dtype, Device device, int maxSequenceLength,
        WeightQuantization? quantization = null)
        : this(config, weights, dtype, device, maxSequenceLength, quantization, keepFloatWeights: false)
    {
    }

    /// <param name="keepFloatWeights">Quantize but keep the float matrices, overwritten with their dequantized values:
    /// the same function at the old memory cost (a reference for tests, and for models that also need float weights).</param>
    /// <param name="fitted">Kernels already fitted on calibration text (see <see cref="GptqCalibration"/>), taken by
    /// the projections they belong to instead of quantizing those; null quantizes every projection here.</param>
    /// <param name="ownsWeights">Whether <see cref="Dispose"/> disposes <paramref name="weights"/> (false for a float
    /// model that only measures them before they are quantized).</param>
    internal DecoderModel(ModelConfig config, ModelWeights weights, ScalarType dtype, Device device, int maxSequenceLength,
        WeightQuantization? quantization, bool keepFloatWeights, FittedProjections? fitted = null, bool ownsWeights = true)
    {
        Config = config; Weights = weights; DType = dtype; Device = device; _ownsWeights = ownsWeights;
        MaxSequenceLength = maxSequenceLength;
        Quantization = quantization ?? WeightQuantization.None;
        _rope = new RotaryEmbedding(config, maxSequenceLength, dtype, device);
        _scale = 1.0 / Math.Sqrt(config.HeadDim);
        _scaleScalar = _scale.ToScalar();
        _epsScalar = config.RmsNormEps.ToScalar();
        if (Quantization.Format == WeightFormat.None || keepFloatWeights)
        {
            _projections = weights.Layers.Select((l, i) => new LayerProjections(l, Quantization, null, fitted, i)).ToArray();
            _lmHead = Projection.Create(weights.LmHead, Quantization.ForHead(), ColumnImportance.FromNorm(weights.FinalNorm), null,
                fitted?.Take(-1, ProjectionKind.LmHead));
        }
        else
        {
            // Sized for the largest layer matrix (gate/up); the LM head goes through it in row chunks.
            var largest = weights.Layers.SelectMany(l => new[] { l.Qkv, l.Output, l.GateUp, l.Down }).Select(t => t.NumberOfElements)
                .DefaultIfEmpty(0).Max();
            _scratch = new DequantizationScratch(dtype, Math.Max(largest, weights.LmHead.shape[1]));
            var reason = $"the model was quantized to {Quantization} at load";
            _projections = new LayerProjections[weights.Layers.Count];
            for (var l = 0; l < _projections.Length; l++)
            {
                _projections[l] = new LayerProjections(weights.Layers[l], Quantization, _scratch, fitted, l);
                weights.Layers[l].FreeProjections(reason);
            }
            _lmHead = Projection.Create(weights.LmHead, Quantization.ForHead(), ColumnImportance.FromNorm(weights.FinalNorm), _scratch,
                fitted?.Take(-1, ProjectionKind.LmHead));
            weights.FreeLmHead(reason);
            NativeHeap.Trim();
        }
        _fused = new FusedDecoder(config, weights, _projections, _lmHead, Embed);
    }

    /// <summary>
    /// Loads config and weights of a Hugging Face model folder. With <paramref name="calibrationWindows"/> (token ids,
    /// each window one sequence; see <see cref="Calibration.QuantizationCalibration.Windows"/>), the float model first
    /// runs them and records the second moments H = Σ x xᵀ of every int4 projection's inputs, and those projections are
    /// fitted the GPTQ way: each column's rounding error is pushed onto the columns not yet rounded, as far as H says
    /// correlated inputs let them absorb it (see <see cref="GptqCalibration"/>). int8 projections are unaffected.
    /// </summary>
    /// <exception cref="ModelLoadException">The folder is unusable; the message names the file and the problem.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxSequenceLength"/> is beyond the model's context.</exception>
    /// <exception cref="ArgumentException">Calibration windows without quantization, or windows that are empty or too long.</exception>
    public static DecoderModel Load(string folder, ScalarType dtype, Device device, int? maxSequenceLength = null,
        WeightQuantization? quantization = null, IReadOnlyList<int[]>? calibrationWindows = null)
    {
        quantization ??= WeightQuantization.None;
        if (calibrationWindows is not null && quantization.Format == WeightFormat.None)
            throw new ArgumentException("Quantization calibration fits the int4 weights: it needs int4 or int8 weights, not unquantized ones.", nameof(calibrationWindows));
        folder = ModelFolder.Resolve(folder);
        var config = ModelConfig.Load(folder);
        var length = config.SequenceLengthFor(maxSequenceLength);
        if (calibrationWindows is not null && (calibrationWindows.Count == 0 || calibrationWindows.Any(w => w.Length == 0 || w.Length > length)))
            throw new ArgumentException($"Quantization calibration needs at least one window, each of 1 to {length} tokens.", nameof(calibrationWindows));
        using var ckpt = Checkpoint.Open(folder);
        using var _ = no_grad();
        var weights = ModelWeights.Load(ckpt, config, dtype, device);
        try
        {
            // int8 has nothing to fit (one symmetric scale per row): calibration changes only int4 projections.
            var fitsInt4 = quantization.Format == WeightFormat.Int4 || quantization.Head == WeightFormat.Int4;
            FittedProjections? fitted = null;
            if (calibrationWindows is not null && fitsInt4)
            {
                using var measuring = new DecoderModel(config, weights, dtype, device, length, null, keepFloatWeights: false, ownsWeights: false);
                fitted = GptqCalibration.Fit(measuring, calibrationWindows, quantization);
            }
            using (fitted)
                return new DecoderModel(config, weights, dtype, device, length, quantization, keepFloatWeights: false, fitted);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    public KvCache CreateCache(int batch, int capacity, LayerPlan? plan = null) =>
        KvCache.Create(Config, batch, capacity, MaxSequenceLength, DType, Device, plan);

    /// <summary>
    /// Runs <paramref name="tokens"/> [batch, chunk] as the next positions of each cache row and returns
    /// float32 logits [batch, chunk or 1, vocab]. Row b's tokens take positions cache.Lengths[b] onwards.
    /// </summary>
    public Tensor Forward(Tensor tokens, KvCache cache, LayerPlan? plan = null, bool lastPositionOnly = true, LayerObserver? observer = null, ILayerRouter? router = null) =>
        Run(tokens, cache, plan, null, lastPositionOnly, observer, router, stepwise: false);

    /// <summary>
    /// A draft step: like <see cref="Forward(Tensor, KvCache, LayerPlan?, bool, LayerObserver?, ILayerRouter?)"/> (last
    /// position's logits), but the projections run on the <paramref name="draftPrecision"/> copies made by
    /// <see cref="PrepareDraftWeights"/> when it differs from the model's own format. Keys and values go into the same cache.
    /// </summary>
    public Tensor DraftStep(Tensor tokens, KvCache cache, LayerPlan? plan, WeightFormat draftPrecision) =>
        Run(tokens, cache, plan, DraftFor(draftPrecision), true, null, null, stepwise: false);

    /// <summary>
    /// A speculative verification pass: all layers over <paramref name="tokens"/> [batch, chunk], returning float32
    /// logits for every position, computed as single-token decode steps would compute them (the same kernels row by
    /// row, attention one position at a time over the cache), so greedy speculative output equals plain greedy decoding
    /// bit for bit, in bfloat16 too, where a batched pass's different rounding would flip near-ties.
    /// </summary>
    public Tensor VerifyStep(Tensor tokens, KvCache cache) => Run(tokens, cache, null, null, false, null, null, stepwise: true);

    /// <summary>
    /// Runs layers [<paramref name="from"/>, <paramref name="to"/>) (libtorch, every position) of one sequence in an
    /// empty cache of one row, adding each projection's input to <paramref name="grams"/> (those it records), and when
    /// <paramref name="to"/> is the last layer's end the LM head's input. <paramref name="hidden"/> [1, s, hidden] is the
    /// state entering layer <paramref name="from"/> (null: the embedding of <paramref name="tokens"/> [1, s]), as an
    /// earlier call up to that layer returned it; returns the state leaving layer <paramref name="to"/> − 1.
    /// </summary>
    internal Tensor Record(Tensor tokens, Tensor? hidden, int from, int to, KvCache cache, InputGrams grams)
    {
        var s = (int)tokens.shape[1];
        if (tokens.shape[0] != 1 || cache.Batch != 1 || cache.Lengths[0] != 0)
            throw new ArgumentException("Recording runs one sequence from an empty cache of one row.", nameof(cache));
        if (from < 0 || to < from || to > Config.NumLayers) throw new ArgumentOutOfRangeException(nameof(to), $"No layers [{from}, {to}) of {Config.NumLayers}.");
        cache.EnsureCapacity(s);
        using var positions = arange(s, ScalarType.Int64, Device).view(1, s);
        var (cos, sin) = _rope.ForPositions(positions);
        var writeIndex = CacheWriteIndex([0], s, cache.Capacity);
        var mask = AttentionMask([0], s, s, out var causalOnly);
        var x = hidden ?? Embed(tokens.reshape(-1)).view(1, s, -1);
        _recording = grams;
        try
        {
            for (var l = from; l < to; l++) x = Layer(l, x, cos, sin, cache, writeIndex, mask, causalOnly, s, null, null);
            if (to == Config.NumLayers) grams.Add(-1, ProjectionKind.LmHead, RmsNorm(x, Weights.FinalNorm));
            return x;
        }
        finally { _recording = null; }
    }

    private Tensor Run(Tensor tokens, KvCache cache, LayerPlan? plan, DraftWeights? draft, bool lastPositionOnly, LayerObserver? observer, ILayerRouter? router,
        bool stepwise)
    {
        var b = (int)tokens.shape[0];
        var s = (int)tokens.shape[1];
        if (b != cache.Batch) throw new ArgumentException($"tokens has {b} rows but the cache has {cache.Batch}.");
        if (plan is not null && plan.LayerCount != Config.NumLayers)
            throw new ArgumentException($"The plan is for {plan.LayerCount} layers but the model has {Config.NumLayers}.");
        if (router is null && observer is null && _fused.CanRun(tokens, cache, plan, verification: stepwise))
            return _fused.Forward(tokens, cache, plan, lastPositionOnly, draft);
        var starts = cache.Lengths.ToArray();
        var end = starts.Max() + s;
        cache.EnsureCapacity(end);

        var positions = new long[b * s];
        for (var r = 0; r < b; r++)
            for (var j = 0; j < s; j++) positions[r * s + j] = starts[r] + j;
        using var positionTensor = tensor(positions, [b, s], ScalarType.Int64, Device);
        var (cos, sin) = _rope.ForPositions(positionTensor);
        var writeIndex = CacheWriteIndex(starts, s, cache.Capacity);
        var mask = AttentionMask(starts, s, end, out var causalOnly);

        var x = Embed(tokens.reshape(-1)).view(b, s, -1);
        for (var l = 0; l < Config.NumLayers; l++)
        {
            if (plan is not null && !plan.Runs(l)) continue;
            var input = x;
            var run = router?.RunMask(l, x);
            if (run is not null && b * s == 1 && !run.any().item<bool>())
                WriteKeyValues(l, x, cos, sin, cache, writeIndex); // the one token skips: only its cache entry is needed
            else
            {
                x = Layer(l, x, cos, sin, cache, writeIndex, mask, causalOnly, end, draft?[l], stepwise ? starts : null);
                if (run is not null) x = router!.Combine(l, run, x, input);
            }
            observer?.Invoke(l, input, x);
        }
        cache.Advance(s);

        if (lastPositionOnly && s > 1) x = x.narrow(1, s - 1, 1);
        x = RmsNorm(x, Weights.FinalNorm);
        var logits = draft is not null ? _lmHead.ApplyDraft(draft.LmHead, x) : stepwise ? _lmHead.ApplyRowwise(x) : _lmHead.Apply(x);
        return logits.dtype == ScalarType.Float32 ? logits : logits.to(ScalarType.Float32);
    }

    /// <summary>The embedding rows of <paramref name="ids"/>; a freed tied table dequantizes just those rows of the LM head.</summary>
    internal Tensor Embed(Tensor ids) =>
        Weights.TiedEmbeddings && !Weights.HoldsLmHead ? _lmHead.Rows(ids) : Weights.Embedding.index_select(0, ids);

    /// <summary>
    /// Layer <paramref name="layer"/>'s projection of kind <paramref name="kind"/> (layer ignored for the LM head) as a
    /// float tensor [out, in] in the compute dtype: a copy of the float weight, or the dequantized values a quantized
    /// model computes with.
    /// </summary>
    internal Tensor DequantizedWeight(int layer, ProjectionKind kind)
    {
        var p = kind == ProjectionKind.LmHead ? _lmHead : _projections[layer][kind];
        return p.Dequantize(0, p.OutFeatures);
    }

    private Tensor Layer(int l, Tensor x, Tensor cos, Tensor sin, KvCache cache, Tensor writeIndex, Tensor? mask, bool causalOnly, int end,
        DraftWeights.Layer? draft, int[]? stepStarts)
    {
        // Draft kernels, or row by row as decode steps (a stepwise verification pass), or the usual choice by row count.
        Tensor Project(Projection projection, Func<DraftWeights.Layer, Kernels.IMatVec> kernel, Tensor input, Tensor? bias = null) =>
            draft is not null ? projection.ApplyDraft(kernel(draft), input, bias)
            : stepStarts is not null ? projection.ApplyRowwise(input, bias)
            : projection.Apply(input, bias);

        var w = Weights.Layers[l];
        var p = _projections[l];
        var c = Config;
        long b = x.shape[0], s = x.shape[1];
        long qDim = (long)c.NumHeads * c.HeadDim, kvDim = (long)c.NumKeyValueHeads * c.HeadDim;

        var h = RmsNorm(x, w.InputNorm);
        _recording?.Add(l, ProjectionKind.Qkv, h);
        var qkv = Project(p.Qkv, d => d.Qkv, h, w.QkvBias);
        var q = qkv.narrow(-1, 0, qDim).view(b, s, c.NumHeads, c.HeadDim);
        var k = qkv.narrow(-1, qDim, kvDim).view(b, s, c.NumKeyValueHeads, c.HeadDim);
        var v = qkv.narrow(-1, qDim + kvDim, kvDim).view(b, s, c.NumKeyValueHeads, c.HeadDim);
        if (w.QNorm is not null) q = RmsNorm(q, w.QNorm);
        if (w.KNorm is not null) k = RmsNorm(k, w.KNorm);
        q = RotaryEmbedding.Apply(q.transpose(1, 2), cos, sin);
        k = RotaryEmbedding.Apply(k.transpose(1, 2), cos, sin);
        v = v.transpose(1, 2);

        // Write this chunk's keys and values into the cache rows, then attend over positions [0, end).
        var keys = cache.Keys(l);
        var values = cache.Values(l);
        keys.view(-1, c.HeadDim).index_copy_(0, writeIndex, k.reshape(-1, c.HeadDim));
        values.view(-1, c.HeadDim).index_copy_(0, writeIndex, v.reshape(-1, c.HeadDim));
        var allK = keys.narrow(2, 0, end);
        var allV = values.narrow(2, 0, end);

        Tensor attended;
        if (s == 1)
            attended = DecodeAttention(q, allK, allV, mask);
        else if (stepStarts is not null)
        {
            // One position at a time, each over the cache as its own decode step would have seen it.
            var steps = new Tensor[s];
            for (var j = 0; j < s; j++)
            {
                var stepEnd = stepStarts.Max() + j + 1;
                steps[j] = DecodeAttention(q.narrow(2, j, 1), keys.narrow(2, 0, stepEnd), values.narrow(2, 0, stepEnd),
                    AttentionMask(stepStarts.Select(start => start + j).ToArray(), 1, stepEnd, out _));
            }
            attended = cat(steps, 1);
        }
        else
        {
            // scaled_dot_product_attention has no grouped-query support: expand the KV heads.
            var groups = c.QueryGroups;
            var ek = groups > 1 ? allK.repeat_interleave(groups, 1) : allK;
            var ev = groups > 1 ? allV.repeat_interleave(groups, 1) : allV;
            attended = causalOnly
                ? F.scaled_dot_product_attention(q, ek, ev, null, 0.0, is_casual: true)
                : F.scaled_dot_product_attention(q, ek, ev, mask, 0.0, is_casual: false);
            attended = attended.transpose(1, 2).reshape(b, s, qDim);
        }
        _recording?.Add(l, ProjectionKind.Output, attended);
        x = x + Project(p.Output, d => d.Output, attended);

        var normed = RmsNorm(x, w.PostAttentionNorm);
        _recording?.Add(l, ProjectionKind.GateUp, normed);
        var gateUp = Project(p.GateUp, d => d.GateUp, normed);
        var chunks = gateUp.chunk(2, -1);
        var gated = F.silu(chunks[0]) * chunks[1];
        _recording?.Add(l, ProjectionKind.Down, gated);
        return x + Project(p.Down, d => d.Down, gated);
    }

    /// <summary>Computes and caches a skipped token's keys and values for layer <paramref name="l"/> (token routing).</summary>
    private void WriteKeyValues(int l, Tensor x, Tensor cos, Tensor sin, KvCache cache, Tensor writeIndex)
    {
        var w = Weights.Layers[l];
        var c = Config;
        long b = x.shape[0], s = x.shape[1];
        long qDim = (long)c.NumHeads * c.HeadDim, kvDim = (long)c.NumKeyValueHeads * c.HeadDim;
        var h = RmsNorm(x, w.InputNorm);
        var kv = _projections[l].Qkv.Apply(h, w.QkvBias, qDim, 2 * kvDim);
        var k = kv.narrow(-1, 0, kvDim).view(b, s, c.NumKeyValueHeads, c.HeadDim);
        var v = kv.narrow(-1, kvDim, kvDim).view(b, s, c.NumKeyValueHeads, c.HeadDim);
        if (w.KNorm is not null) k = RmsNorm(k, w.KNorm);
        k = RotaryEmbedding.Apply(k.transpose(1, 2), cos, sin);
        cache.Keys(l).view(-1, c.HeadDim).index_copy_(0, writeIndex, k.reshape(-1, c.HeadDim));
        cache.Values(l).view(-1, c.HeadDim).index_copy_(0, writeIndex, v.transpose(1, 2).reshape(-1, c.HeadDim));
    }

    /// <summary>
    /// One query per row: view the query heads as [kvHeads, groups] so each KV head is read once,
    /// with no copy of the cache for grouped-query attention.
    /// </summary>
    private Tensor DecodeAttention(Tensor q, Tensor keys, Tensor values, Tensor? blocked)
    {
        var c = Config;
        var b = q.shape[0];
        var grouped = q.reshape(b, c.NumKeyValueHeads, c.QueryGroups, c.HeadDim);
        var scores = matmul(grouped, keys.transpose(2, 3)).mul_(_scaleScalar);   // [b, kvH, groups, T]
        if (blocked is not null) scores = scores.masked_fill(blocked, NegativeInfinity);
        var probs = scores.softmax(-1, ScalarType.Float32);
        if (probs.dtype != values.dtype) probs = probs.to(values.dtype);
        return matmul(probs, values).reshape(b, 1, (long)c.NumHeads * c.HeadDim);
    }

    /// <summary>Flat row indices into a cache tensor viewed as [batch * kvHeads * capacity, headDim].</summary>
    private Tensor CacheWriteIndex(int[] starts, int s, int capacity)
    {
        var kvHeads = Config.NumKeyValueHeads;
        var index = new long[starts.Length * kvHeads * s];
        var n = 0;
        for (var r = 0; r < starts.Length; r++)
            for (var h = 0; h < kvHeads; h++)
                for (var j = 0; j < s; j++)
                    index[n++] = ((long)r * kvHeads + h) * capacity + starts[r] + j;
        return tensor(index, ScalarType.Int64, Device);
    }

    /// <summary>
    /// For decoding: a [b, 1, 1, T] mask of blocked (future or padding) positions. For chunks: a [b, 1, s, T]
    /// mask of allowed positions, or none when every row starts empty (plain causal attention).
    /// </summary>
    private Tensor? AttentionMask(int[] starts, int s, int end, out bool causalOnly)
    {
        causalOnly = starts.All(p => p == 0);
        if (causalOnly && s > 1) return null;
        var b = starts.Length;
        if (s == 1)
        {
            // Rows of equal length (always so at batch 1) see every cached position: no mask at all.
            if (starts.All(p => p == starts[0])) return null;
            var blocked = new bool[b * end];
            for (var r = 0; r < b; r++)
                for (var t = starts[r] + 1; t < end; t++) blocked[r * end + t] = true;
            return tensor(blocked, [b, 1, 1, end], device: Device);
        }
        var allowed = new bool[b * s * end];
        for (var r = 0; r < b; r++)
            for (var j = 0; j < s; j++)
                for (var t = 0; t <= starts[r] + j; t++) allowed[(r * s + j) * end + t] = true;
        return tensor(allowed, [b, 1, s, end], device: Device);
    }

    private Tensor RmsNorm(Tensor x, Tensor weight)
    {
        var xf = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);
        var normed = xf * rsqrt(xf.pow(2).mean([-1L], keepdim: true).add_(_epsScalar, LiveScalars.One));
        return (normed.dtype == x.dtype ? normed : normed.to(x.dtype)) * weight;
    }

    public void Dispose()
    {
        foreach (var p in _projections) p.Dispose();
        foreach (var d in _drafts.Values) d.Dispose();
        _lmHead.Dispose();
        _fused.Dispose();
        _scratch?.Dispose();
        _rope.Dispose();
        _scaleScalar.Dispose();
        _epsScalar.Dispose();
        if (_ownsWeights) Weights.Dispose();
    }
}
