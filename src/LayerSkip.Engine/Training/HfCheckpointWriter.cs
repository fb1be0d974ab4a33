using System.Text.Json;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Training;

/// <summary>
/// Saves a decoder as a Hugging Face model folder: config.json (from <see cref="ModelConfig.ToJson"/>, plus an optional
/// "layerskip" section), model.safetensors in float32 with the standard tensor names (the fused q/k/v and gate/up
/// projections split back), and the tokenizer files copied from a source folder.
/// </summary>
internal static class HfCheckpointWriter
{
    /// <summary>Files copied from the tokenizer source folder when present.</summary>
    public static readonly string[] TokenizerFiles =
        ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"];

    public static void Save(DecoderModel model, string folder, string? tokenizerSource, JsonObject? layerskip = null)
    {
        RequireFloatWeights(model);
        Directory.CreateDirectory(folder);
        var c = model.Config;
        var config = c.ToJson();
        config["architectures"] = new JsonArray("LlamaForCausalLM");
        config["torch_dtype"] = "float32";
        if (layerskip is not null) config["layerskip"] = layerskip.DeepClone();
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        // Write to a temporary name and move, so a crash never leaves a half-written checkpoint behind.
        var path = Path.Combine(folder, "model.safetensors");
        SafeTensorsWriter.Write(path + ".tmp", Entries(model), new Dictionary<string, string> { ["format"] = "pt" });
        File.Move(path + ".tmp", path, overwrite: true);

        if (tokenizerSource is not null && Path.GetFullPath(tokenizerSource) != Path.GetFullPath(folder))
            foreach (var name in TokenizerFiles)
            {
                var src = Path.Combine(tokenizerSource, name);
                if (File.Exists(src)) File.Copy(src, Path.Combine(folder, name), overwrite: true);
            }
    }

    /// <summary>The model's tensors under their Hugging Face names, as float32.</summary>
    public static IEnumerable<SafeTensorsWriter.Entry> Entries(DecoderModel model)
    {
        RequireFloatWeights(model);
        return FloatEntries(model);
    }

    /// <summary>A quantized model holds packed weights only: saving it would write its rounding as if it were the model.</summary>
    private static void RequireFloatWeights(DecoderModel model)
    {
        if (model.Quantization.Format != WeightFormat.None)
            throw new InvalidOperationException(
                $"A model quantized at load ({model.Quantization}) cannot be saved as a checkpoint: save or adapt the float model, " +
                "and quantize when loading it (--quantize).");
    }

    private static IEnumerable<SafeTensorsWriter.Entry> FloatEntries(DecoderModel model)
    {
        var c = model.Config;
        var w = model.Weights;
        long q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        yield return Entry("model.embed_tokens.weight", w.Embedding);
        for (var n = 0; n < c.NumLayers; n++)
        {
            var l = w.Layers[n];
            var p = $"model.layers.{n}.";
            yield return Entry(p + "input_layernorm.weight", l.InputNorm);
            yield return Entry(p + "self_attn.q_proj.weight", l.Qkv.narrow(0, 0, q));
            yield return Entry(p + "self_attn.k_proj.weight", l.Qkv.narrow(0, q, kv));
            yield return Entry(p + "self_attn.v_proj.weight", l.Qkv.narrow(0, q + kv, kv));
            if (l.QkvBias is { } b)
            {
                yield return Entry(p + "self_attn.q_proj.bias", b.narrow(0, 0, q));
                yield return Entry(p + "self_attn.k_proj.bias", b.narrow(0, q, kv));
                yield return Entry(p + "self_attn.v_proj.bias", b.narrow(0, q + kv, kv));
            }
            if (l.QNorm is { } qn) yield return Entry(p + "self_attn.q_norm.weight", qn);
            if (l.KNorm is { } kn) yield return Entry(p + "self_attn.k_norm.weight", kn);
            yield return Entry(p + "self_attn.o_proj.weight", l.Output);
            yield return Entry(p + "post_attention_layernorm.weight", l.PostAttentionNorm);
            yield return Entry(p + "mlp.gate_proj.weight", l.GateUp.narrow(0, 0, i));
            yield return Entry(p + "mlp.up_proj.weight", l.GateUp.narrow(0, i, i));
            yield return Entry(p + "mlp.down_proj.weight", l.Down);
        }
        yield return Entry("model.norm.weight", w.FinalNorm);
        if (!ReferenceEquals(w.LmHead, w.Embedding)) yield return Entry("lm_head.weight", w.LmHead);
    }

    /// <summary>One tensor as a float32 safetensors entry (copied off the device).</summary>
    public static SafeTensorsWriter.Entry Entry(string name, Tensor t)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var f = t.detach().to(ScalarType.Float32, CPU).contiguous();
        return SafeTensorsWriter.F32(name, f.data<float>().ToArray(), f.shape);
    }
}
