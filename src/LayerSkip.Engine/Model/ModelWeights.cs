using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>All weights of a decoder, in the compute dtype on the compute device.</summary>
public sealed class ModelWeights : IDisposable
{
    public required Tensor Embedding { get; init; }
    public required Tensor FinalNorm { get; init; }
    /// <summary>The output projection; the same tensor as <see cref="Embedding"/> when embeddings are tied.</summary>
    public required Tensor LmHead { get; init; }
    public required IReadOnlyList<LayerWeights> Layers { get; init; }

    public long LayerBytes => Layers.Sum(l => l.Bytes);
    public long HeadBytes => LmHead.NumberOfElements * LmHead.ElementSize + FinalNorm.NumberOfElements * FinalNorm.ElementSize;

    /// <summary>Loads and fuses the Hugging Face tensors, after checking every name, shape and dtype against the config.</summary>
    public static ModelWeights Load(Checkpoint ckpt, ModelConfig c, ScalarType dtype, Device device)
    {
        WeightLayout.Check(ckpt, c);
        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        Tensor L(string name, params long[] shape) => ckpt.Load(name, shape, dtype, device);
        // Matrices are streamed once per decoded token: give them 2 MiB pages (vectors stay where they are).
        static Tensor Matrix(Tensor t) => HugePages.Rehome(t);

        var embedding = Matrix(L("model.embed_tokens.weight", c.VocabSize, h));
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
                Qkv = Matrix(cat([wq, wk, wv], 0)),
                QkvBias = bias,
                QNorm = c.QkNorm ? L(p + "self_attn.q_norm.weight", c.HeadDim) : null,
                KNorm = c.QkNorm ? L(p + "self_attn.k_norm.weight", c.HeadDim) : null,
                Output = Matrix(L(p + "self_attn.o_proj.weight", h, q)),
                PostAttentionNorm = L(p + "post_attention_layernorm.weight", h),
                GateUp = Matrix(cat([wg, wu], 0)),
                Down = Matrix(L(p + "mlp.down_proj.weight", h, i)),
            });
        }
        var lmHead = c.TieWordEmbeddings ? embedding : Matrix(L("lm_head.weight", c.VocabSize, h));
        return new ModelWeights { Embedding = embedding, FinalNorm = L("model.norm.weight", h), LmHead = lmHead, Layers = layers };
    }

    public void Dispose()
    {
        foreach (var l in Layers) l.Dispose();
        if (!ReferenceEquals(LmHead, Embedding)) LmHead.Dispose();
        Embedding.Dispose();
        FinalNorm.Dispose();
    }
}
