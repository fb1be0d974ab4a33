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
    private readonly LayerProjections[] _projections;
    private readonly Projection _lmHead;

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
    /// Wraps <paramref name="weights"/>; with <paramref name="quantization"/>, every linear layer and the LM head are
    /// quantized and their float weights replaced by the dequantized values (with tied embeddings, the embedding
    /// table too), so prefill, training-free evaluation and decoding all run the quantized model.
    /// </summary>
    public DecoderModel(ModelConfig config, ModelWeights weights, ScalarType dtype, Device device, int maxSequenceLength,
        WeightQuantization? quantization = null)
    {
        Config = config; Weights = weights; DType = dtype; Device = device;
        MaxSequenceLength = maxSequenceLength;
        Quantization = quantization ?? WeightQuantization.None;
        _rope = new RotaryEmbedding(config, maxSequenceLength, dtype, device);
        _scale = 1.0 / Math.Sqrt(config.HeadDim);
        _projections = weights.Layers.Select(l => new LayerProjections(l, Quantization)).ToArray();
        _lmHead = Projection.Create(weights.LmHead, Quantization, weights.FinalNorm);
    }

    /// <summary>Loads config and weights of a Hugging Face model folder.</summary>
    /// <exception cref="ModelLoadException">The folder is unusable; the message names the file and the problem.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxSequenceLength"/> is beyond the model's context.</exception>
    public static DecoderModel Load(string folder, ScalarType dtype, Device device, int? maxSequenceLength = null,
        WeightQuantization? quantization = null)
    {
        folder = ModelFolder.Resolve(folder);
        var config = ModelConfig.Load(folder);
        var length = config.SequenceLengthFor(maxSequenceLength);
        using var ckpt = Checkpoint.Open(folder);
        using var _ = no_grad();
        var weights = ModelWeights.Load(ckpt, config, dtype, device);
        return new DecoderModel(config, weights, dtype, device, length, quantization);
    }

    public KvCache CreateCache(int batch, int capacity, LayerPlan? plan = null) =>
        KvCache.Create(Config, batch, capacity, MaxSequenceLength, DType, Device, plan);

    /// <summary>
    /// Runs <paramref name="tokens"/> [batch, chunk] as the next positions of each cache row and returns
    /// float32 logits [batch, chunk or 1, vocab]. Row b's tokens take positions cache.Lengths[b] onwards.
    /// </summary>
    public Tensor Forward(Tensor tokens, KvCache cache, LayerPlan? plan = null, bool lastPositionOnly = true, LayerObserver? observer = null, ILayerRouter? router = null)
    {
        var b = (int)tokens.shape[0];
        var s = (int)tokens.shape[1];
        if (b != cache.Batch) throw new ArgumentException($"tokens has {b} rows but the cache has {cache.Batch}.");
        if (plan is not null && plan.LayerCount != Config.NumLayers)
            throw new ArgumentException($"The plan is for {plan.LayerCount} layers but the model has {Config.NumLayers}.");
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

        var x = Weights.Embedding.index_select(0, tokens.reshape(-1)).view(b, s, -1);
        for (var l = 0; l < Config.NumLayers; l++)
        {
            if (plan is not null && !plan.Runs(l)) continue;
            var input = x;
            var run = router?.RunMask(l, x);
            if (run is not null && b * s == 1 && !run.any().item<bool>())
                WriteKeyValues(l, x, cos, sin, cache, writeIndex); // the one token skips: only its cache entry is needed
            else
            {
                x = Layer(l, x, cos, sin, cache, writeIndex, mask, causalOnly, end);
                if (run is not null) x = router!.Combine(l, run, x, input);
            }
            observer?.Invoke(l, input, x);
        }
        cache.Advance(s);

        if (lastPositionOnly && s > 1) x = x.narrow(1, s - 1, 1);
        x = RmsNorm(x, Weights.FinalNorm);
        var logits = _lmHead.Apply(x);
        return logits.dtype == ScalarType.Float32 ? logits : logits.to(ScalarType.Float32);
    }

    private Tensor Layer(int l, Tensor x, Tensor cos, Tensor sin, KvCache cache, Tensor writeIndex, Tensor? mask, bool causalOnly, int end)
    {
        var w = Weights.Layers[l];
        var p = _projections[l];
        var c = Config;
        long b = x.shape[0], s = x.shape[1];
        long qDim = (long)c.NumHeads * c.HeadDim, kvDim = (long)c.NumKeyValueHeads * c.HeadDim;

        var h = RmsNorm(x, w.InputNorm);
        var qkv = p.Qkv.Apply(h, w.QkvBias);
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
        x = x + p.Output.Apply(attended);

        var gateUp = p.GateUp.Apply(RmsNorm(x, w.PostAttentionNorm));
        var chunks = gateUp.chunk(2, -1);
        return x + p.Down.Apply(F.silu(chunks[0]) * chunks[1]);
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
        var scores = matmul(grouped, keys.transpose(2, 3)).mul_(_scale);   // [b, kvH, groups, T]
        if (blocked is not null) scores = scores.masked_fill(blocked, double.NegativeInfinity);
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
        var normed = xf * rsqrt(xf.pow(2).mean([-1L], keepdim: true).add_(Config.RmsNormEps));
        return (normed.dtype == x.dtype ? normed : normed.to(x.dtype)) * weight;
    }

    public void Dispose()
    {
        foreach (var p in _projections) p.Dispose();
        _lmHead.Dispose();
        _rope.Dispose();
        Weights.Dispose();
    }
}
