using System.Text.Json;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Loading;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Writes a Hugging Face folder (config.json, model.safetensors in bf16) of seeded random weights of a given shape,
/// one tensor at a time, so a benchmark can load the very same weights into several engines or through the model-folder path.
/// </summary>
public static class RandomCheckpoint
{
    /// <param name="tokenizerSource">A folder whose tokenizer files (and chat template) are copied beside the weights.</param>
    public static void Write(ModelConfig c, string folder, int seed = 0, string? tokenizerSource = null)
    {
        Directory.CreateDirectory(folder);
        if (tokenizerSource is not null)
            foreach (var name in Training.HfCheckpointWriter.TokenizerFiles.Where(n => n != "generation_config.json"))
                if (File.Exists(Path.Combine(tokenizerSource, name)))
                    File.Copy(Path.Combine(tokenizerSource, name), Path.Combine(folder, name), overwrite: true);
        var config = c.ToJson();
        config["architectures"] = new JsonArray("LlamaForCausalLM");
        config["torch_dtype"] = "bfloat16";
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, ff = c.IntermediateSize;
        var tensors = new List<SafeTensorsWriter.Header>();
        void Add(string name, params long[] shape) => tensors.Add(new(name, SafeTensorDType.BF16, shape));
        Add("model.embed_tokens.weight", c.VocabSize, h);
        for (var n = 0; n < c.NumLayers; n++)
        {
            var p = $"model.layers.{n}.";
            Add(p + "input_layernorm.weight", h);
            Add(p + "self_attn.q_proj.weight", q, h);
            Add(p + "self_attn.k_proj.weight", kv, h);
            Add(p + "self_attn.v_proj.weight", kv, h);
            if (c.AttentionBias)
            {
                Add(p + "self_attn.q_proj.bias", q);
                Add(p + "self_attn.k_proj.bias", kv);
                Add(p + "self_attn.v_proj.bias", kv);
            }
            if (c.QkNorm)
            {
                Add(p + "self_attn.q_norm.weight", c.HeadDim);
                Add(p + "self_attn.k_norm.weight", c.HeadDim);
            }
            Add(p + "self_attn.o_proj.weight", h, q);
            Add(p + "post_attention_layernorm.weight", h);
            Add(p + "mlp.gate_proj.weight", ff, h);
            Add(p + "mlp.up_proj.weight", ff, h);
            Add(p + "mlp.down_proj.weight", h, ff);
        }
        Add("model.norm.weight", h);
        if (!c.TieWordEmbeddings) Add("lm_head.weight", c.VocabSize, h);

        var generator = new Generator((ulong)seed);
        var path = Path.Combine(folder, "model.safetensors");
        SafeTensorsWriter.Write(path + ".tmp", tensors, (i, stream) =>
        {
            using var scope = NewDisposeScope();
            var t = tensors[i];
            // Norms are ones, biases zeros; matrices small normals, which keep activations in range through many layers.
            var values = t.Shape.Length == 1
                ? (t.Name.EndsWith(".bias", StringComparison.Ordinal) ? zeros(t.Shape, ScalarType.BFloat16) : ones(t.Shape, ScalarType.BFloat16))
                : (randn(t.Shape, ScalarType.Float32, generator: generator) * 0.02).to(ScalarType.BFloat16);
            stream.Write(values.contiguous().bytes);
        }, new Dictionary<string, string> { ["format"] = "pt" });
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
