using System.Globalization;
using LayerSkip.Engine.Loading;

namespace LayerSkip.Engine.Model;

/// <summary>
/// The Hugging Face tensors a LLaMA-family config implies, checked against a checkpoint's headers before anything
/// is allocated: the layer count agrees with the file, every tensor is present with the implied shape, and each
/// holds floats. So no number from config.json sizes an allocation until the file has confirmed it.
/// </summary>
public static class WeightLayout
{
    private const string LayerPrefix = "model.layers.";

    /// <summary>Every tensor the config needs, with its shape.</summary>
    public static IEnumerable<(string Name, long[] Shape)> Expected(ModelConfig c, bool withLmHead)
    {
        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        yield return ("model.embed_tokens.weight", [c.VocabSize, h]);
        for (var n = 0; n < c.NumLayers; n++)
        {
            var p = $"{LayerPrefix}{n}.";
            yield return (p + "input_layernorm.weight", [h]);
            yield return (p + "self_attn.q_proj.weight", [q, h]);
            yield return (p + "self_attn.k_proj.weight", [kv, h]);
            yield return (p + "self_attn.v_proj.weight", [kv, h]);
            if (c.AttentionBias)
            {
                yield return (p + "self_attn.q_proj.bias", [q]);
                yield return (p + "self_attn.k_proj.bias", [kv]);
                yield return (p + "self_attn.v_proj.bias", [kv]);
            }
            if (c.QkNorm)
            {
                yield return (p + "self_attn.q_norm.weight", [c.HeadDim]);
                yield return (p + "self_attn.k_norm.weight", [c.HeadDim]);
            }
            yield return (p + "self_attn.o_proj.weight", [h, q]);
            yield return (p + "post_attention_layernorm.weight", [h]);
            yield return (p + "mlp.gate_proj.weight", [i, h]);
            yield return (p + "mlp.up_proj.weight", [i, h]);
            yield return (p + "mlp.down_proj.weight", [h, i]);
        }
        yield return ("model.norm.weight", [h]);
        if (withLmHead) yield return ("lm_head.weight", [c.VocabSize, h]);
    }

    /// <summary>Checks the checkpoint's headers against the config; reads no tensor data.</summary>
    /// <exception cref="ModelLoadException">A disagreement, naming config.json or the weights file and the tensor.</exception>
    public static void Check(Checkpoint ckpt, ModelConfig c)
    {
        var configPath = Path.Combine(ckpt.Folder, "config.json");
        var fileLayers = LayerCount(ckpt.TensorNames);
        if (fileLayers != c.NumLayers)
            throw new ModelLoadException(
                $"config.json says num_hidden_layers = {c.NumLayers} but the weights hold {fileLayers} layers; the two must agree", configPath);

        var untied = !c.TieWordEmbeddings;
        if (untied && !ckpt.Contains("lm_head.weight"))
            throw new ModelLoadException("Tensor 'lm_head.weight' is missing and config.json says tie_word_embeddings is false", ckpt.WeightsPath);
        foreach (var (name, shape) in Expected(c, untied))
        {
            if (!ckpt.TryGetInfo(name, out var info, out var file))
                throw new ModelLoadException($"Tensor '{name}' is missing from the checkpoint", ckpt.WeightsPath);
            if (!info.Shape.SequenceEqual(shape))
                throw new ModelLoadException(
                    $"Tensor '{name}' has shape [{string.Join(", ", info.Shape)}] but the config implies [{string.Join(", ", shape)}]", file);
            if (!Checkpoint.IsFloat(info.DType))
                throw new ModelLoadException($"Tensor '{name}' holds {info.DType} integers where float weights belong", file);
        }
    }

    /// <summary>One more than the highest <c>model.layers.N</c> index among the names (0 when there is none).</summary>
    public static int LayerCount(IEnumerable<string> tensorNames)
    {
        var count = 0;
        foreach (var name in tensorNames)
        {
            if (!name.StartsWith(LayerPrefix, StringComparison.Ordinal)) continue;
            var dot = name.IndexOf('.', LayerPrefix.Length);
            var digits = dot < 0 ? name[LayerPrefix.Length..] : name[LayerPrefix.Length..dot];
            if (int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n < int.MaxValue)
                count = Math.Max(count, n + 1);
        }
        return count;
    }
}
