using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>All weights of a decoder, in the compute dtype on the compute device.</summary>
public sealed class ModelWeights : IDisposable
{
    private Tensor? _embedding, _lmHead;
    private string? _headFreedBy;

    /// <exception cref="InvalidOperationException">A quantized model with tied embeddings freed it (see <see cref="LmHead"/>).</exception>
    public required Tensor Embedding { get => Held(_embedding, "embedding"); init => _embedding = value; }
    public required Tensor FinalNorm { get; init; }
    /// <summary>The output projection; the same tensor as <see cref="Embedding"/> when embeddings are tied.</summary>
    /// <exception cref="InvalidOperationException">A quantized model freed it; only the packed LM head remains.</exception>
    public required Tensor LmHead { get => Held(_lmHead, "LM head"); init => _lmHead = value; }
    public required IReadOnlyList<LayerWeights> Layers { get; init; }

    /// <summary>Whether the embeddings are tied to the LM head (one tensor, or one packed matrix once freed).</summary>
    public bool TiedEmbeddings => ReferenceEquals(_lmHead, _embedding) || (_headFreedBy is not null && _embedding is null);
    /// <summary>Whether the LM head's float matrix is still held (a quantized model frees it).</summary>
    public bool HoldsLmHead => _lmHead is not null;

    /// <summary>Layer <paramref name="layer"/>'s projection of this kind [out, in], or the LM head (layer ignored).</summary>
    internal Tensor Projection(int layer, ProjectionKind kind) => kind == ProjectionKind.LmHead ? LmHead : Layers[layer].Projection(kind);

    /// <summary>The RMSNorm weight that scales that projection's input, or null where none does.</summary>
    internal Tensor? NormBefore(int layer, ProjectionKind kind) => kind == ProjectionKind.LmHead ? FinalNorm : Layers[layer].NormBefore(kind);

    /// <summary>Bytes of the float tensors still held by the layers.</summary>
    public long LayerBytes => Layers.Sum(l => l.Bytes);
    /// <summary>Bytes of the float LM head (when still held) and final norm.</summary>
    public long HeadBytes => (_lmHead is null ? 0 : _lmHead.NumberOfElements * _lmHead.ElementSize) + FinalNorm.NumberOfElements * FinalNorm.ElementSize;
    /// <summary>Bytes of every float tensor still held, the embedding counted once when tied.</summary>
    public long Bytes => LayerBytes + HeadBytes +
        (_embedding is null || ReferenceEquals(_embedding, _lmHead) ? 0 : _embedding.NumberOfElements * _embedding.ElementSize);

    /// <summary>
    /// Disposes the float LM head (and the embedding table when tied to it); reading them afterwards throws, naming
    /// <paramref name="reason"/>. An untied embedding stays.
    /// </summary>
    internal void FreeLmHead(string reason)
    {
        if (_lmHead is null) return;
        if (ReferenceEquals(_lmHead, _embedding)) _embedding = null;
        _lmHead.Dispose();
        _lmHead = null;
        _headFreedBy = reason;
    }

    private Tensor Held(Tensor? t, string name) => t ?? throw new InvalidOperationException(
        $"The {name} float weight was freed: {_headFreedBy}. Read or change float weights on a model loaded without " +
        "quantization (adapt, train or export first, then quantize at load).");

    /// <summary>Loads and fuses the Hugging Face tensors, after checking every name, shape and dtype against the config.</summary>
    public static ModelWeights Load(Checkpoint ckpt, ModelConfig c, ScalarType dtype, Device device)
    {
        WeightLayout.Check(ckpt, c);
        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        Tensor L(string name, params long[] shape) => ckpt.Load(name, shape, dtype, device);
        // Matrices are streamed once per decoded token: they go onto 2 MiB pages (vectors stay where they are).

        var embedding = HugePages.Rehome(L("model.embed_tokens.weight", c.VocabSize, h));
        var layers = new List<LayerWeights>(c.NumLayers);
        for (var n = 0; n < c.NumLayers; n++)
        {
            var p = $"model.layers.{n}.";
            using var wq = L(p + "self_attn.q_proj.weight", q, h);
            using var wk = L(p + "self_attn.k_proj.weight", kv, h);
            using var wv = L(p + "self_attn.v_proj.weight", kv, h);
            using var wg = L(p + "mlp.gate_proj.weight", i, h);
            using var wu = L(p + "mlp.up_proj.weight", i, h);
            Tensor? bias = null;
            if (c.AttentionBias)
            {
                using var bq = L(p + "self_attn.q_proj.bias", q);
                using var bk = L(p + "self_attn.k_proj.bias", kv);
                using var bv = L(p + "self_attn.v_proj.bias", kv);
                bias = cat([bq, bk, bv], 0);
            }
            layers.Add(new LayerWeights
            {
                InputNorm = L(p + "input_layernorm.weight", h),
                Qkv = HugePages.Concat(wq, wk, wv),
                QkvBias = bias,
                QNorm = c.QkNorm ? L(p + "self_attn.q_norm.weight", c.HeadDim) : null,
                KNorm = c.QkNorm ? L(p + "self_attn.k_norm.weight", c.HeadDim) : null,
                Output = HugePages.Rehome(L(p + "self_attn.o_proj.weight", h, q)),
                PostAttentionNorm = L(p + "post_attention_layernorm.weight", h),
                GateUp = HugePages.Concat(wg, wu),
                Down = HugePages.Rehome(L(p + "mlp.down_proj.weight", h, i)),
            });
        }
        var lmHead = c.TieWordEmbeddings ? embedding : HugePages.Rehome(L("lm_head.weight", c.VocabSize, h));
        return new ModelWeights { Embedding = embedding, FinalNorm = L("model.norm.weight", h), LmHead = lmHead, Layers = layers };
    }

    public void Dispose()
    {
        foreach (var l in Layers) l.Dispose();
        if (!ReferenceEquals(_lmHead, _embedding)) _lmHead?.Dispose();
        _embedding?.Dispose();
        FinalNorm.Dispose();
    }
}
