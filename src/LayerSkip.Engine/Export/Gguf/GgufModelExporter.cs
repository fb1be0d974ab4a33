using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Export.Gguf;

/// <summary>
/// Converts a Hugging Face LLaMA/Mistral folder into a GGUF file for llama.cpp's <c>llama</c> architecture: the
/// hyper-parameters, the tokenizer, and the weights under llama.cpp's tensor names, matrices in F32, F16 or BF16
/// and norms in F32. Weights are read through <see cref="Checkpoint"/> and written one tensor at a time.
/// </summary>
public static class GgufModelExporter
{
    /// <summary>The matrix element types a Hugging Face checkpoint can be written as without quantizing.</summary>
    public static GgmlType ParseFloatType(string name) => name.ToLowerInvariant() switch
    {
        "f32" or "float32" => GgmlType.F32,
        "f16" or "float16" => GgmlType.F16,
        "bf16" or "bfloat16" => GgmlType.BF16,
        _ => throw new ArgumentException($"GGUF export writes f32, f16 or bf16 matrices, not '{name}'.", nameof(name)),
    };

    /// <summary>Writes <paramref name="outputPath"/> from the model folder <paramref name="modelFolder"/>.</summary>
    /// <param name="feedForwardMultiple">
    /// Pads the feed-forward width up to a multiple of this with units whose gate/up rows and down column are zero
    /// (they add exactly nothing), so llama.cpp's block quantizers, which need whole 32-element blocks per row, can
    /// quantize a model such as stories260K (width 172). 1 writes the width as it is.
    /// </param>
    /// <exception cref="ModelLoadException">The folder is not a LLaMA-family checkpoint llama.cpp's <c>llama</c> architecture runs.</exception>
    public static void Export(string modelFolder, string outputPath, GgmlType matrixType, int feedForwardMultiple = 1)
    {
        if (matrixType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ArgumentException($"GGUF export writes F32, F16 or BF16 matrices (quantize afterwards with llama.cpp), not {matrixType}.", nameof(matrixType));
        if (feedForwardMultiple < 1)
            throw new ArgumentOutOfRangeException(nameof(feedForwardMultiple), feedForwardMultiple, "The feed-forward width multiple must be at least 1.");
        var config = ModelConfig.Load(modelFolder);
        if (config.Architecture is not (ModelArchitecture.Llama or ModelArchitecture.Mistral) || config.AttentionBias)
            throw new ModelLoadException(
                $"GGUF export writes llama.cpp's 'llama' architecture; a {config.Architecture} model{(config.AttentionBias ? " with attention biases" : "")} needs another", modelFolder);
        using var checkpoint = Checkpoint.Open(modelFolder);
        var writer = new GgufWriter();
        var feedForward = (config.IntermediateSize + feedForwardMultiple - 1) / feedForwardMultiple * feedForwardMultiple;
        WriteHyperParameters(writer, config, Path.GetFileName(Path.GetFullPath(modelFolder).TrimEnd('/')), matrixType, feedForward);
        ReadVocabulary(modelFolder, config).WriteTo(writer);
        AddTensors(writer, checkpoint, config, matrixType, feedForward);
        writer.Write(outputPath);
    }

    private static GgufVocabulary ReadVocabulary(string folder, ModelConfig config)
    {
        var json = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(json)) return GgufVocabulary.Placeholder(config.VocabSize);
        var tokenizer = TextTokenizer.Load(folder);
        return GgufVocabulary.FromTokenizerJson(json, config.VocabSize, tokenizer.BosTokenId ?? config.BosTokenId,
            tokenizer.EosTokenId ?? (config.EosTokenIds.Count > 0 ? config.EosTokenIds[0] : null), tokenizer.AddBosByDefault);
    }

    private static void WriteHyperParameters(GgufWriter w, ModelConfig c, string name, GgmlType matrixType, int feedForward)
    {
        w.AddString("general.architecture", "llama");
        w.AddString("general.name", name);
        w.AddUInt32("general.file_type", GgmlTypeInfo.FileType(matrixType));
        w.AddUInt32("llama.vocab_size", (uint)c.VocabSize);
        w.AddUInt32("llama.context_length", (uint)c.MaxPositionEmbeddings);
        w.AddUInt32("llama.embedding_length", (uint)c.HiddenSize);
        w.AddUInt32("llama.block_count", (uint)c.NumLayers);
        w.AddUInt32("llama.feed_forward_length", (uint)feedForward);
        w.AddUInt32("llama.attention.head_count", (uint)c.NumHeads);
        w.AddUInt32("llama.attention.head_count_kv", (uint)c.NumKeyValueHeads);
        w.AddUInt32("llama.attention.key_length", (uint)c.HeadDim);
        w.AddUInt32("llama.attention.value_length", (uint)c.HeadDim);
        w.AddFloat32("llama.attention.layer_norm_rms_epsilon", (float)c.RmsNormEps);
        w.AddFloat32("llama.rope.freq_base", (float)c.RopeTheta);
        w.AddUInt32("llama.rope.dimension_count", (uint)c.HeadDim);
    }

    private static void AddTensors(GgufWriter w, Checkpoint ckpt, ModelConfig c, GgmlType matrixType, long paddedFeedForward)
    {
        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, ff = c.IntermediateSize;
        var matrix = TorchType(matrixType);
        void Matrix(string gguf, string hf, long rows, long cols, int? ropeHeads = null, long[]? padded = null) =>
            w.AddTensor(gguf, padded ?? [rows, cols], matrixType, s => WriteTensor(s, ckpt, hf, [rows, cols], matrix, ropeHeads, padded));
        void Vector(string gguf, string hf, long n) =>
            w.AddTensor(gguf, [n], GgmlType.F32, s => WriteTensor(s, ckpt, hf, [n], ScalarType.Float32, null));

        Matrix("token_embd.weight", "model.embed_tokens.weight", c.VocabSize, h);
        if (c.RopeScaling is { Type: "llama3" })
        {
            var factors = RopeFrequencyFactors(c);
            w.AddTensor("rope_freqs.weight", [factors.Length], GgmlType.F32, s => s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(factors.AsSpan())));
        }
        for (var n = 0; n < c.NumLayers; n++)
        {
            string b = $"blk.{n}.", p = $"model.layers.{n}.";
            Vector(b + "attn_norm.weight", p + "input_layernorm.weight", h);
            Matrix(b + "attn_q.weight", p + "self_attn.q_proj.weight", q, h, c.NumHeads);
            Matrix(b + "attn_k.weight", p + "self_attn.k_proj.weight", kv, h, c.NumKeyValueHeads);
            Matrix(b + "attn_v.weight", p + "self_attn.v_proj.weight", kv, h);
            Matrix(b + "attn_output.weight", p + "self_attn.o_proj.weight", h, q);
            Vector(b + "ffn_norm.weight", p + "post_attention_layernorm.weight", h);
            Matrix(b + "ffn_gate.weight", p + "mlp.gate_proj.weight", ff, h, padded: [paddedFeedForward, h]);
            Matrix(b + "ffn_up.weight", p + "mlp.up_proj.weight", ff, h, padded: [paddedFeedForward, h]);
            Matrix(b + "ffn_down.weight", p + "mlp.down_proj.weight", h, ff, padded: [h, paddedFeedForward]);
        }
        Vector("output_norm.weight", "model.norm.weight", h);
        if (!c.TieWordEmbeddings)
        {
            if (!ckpt.Contains("lm_head.weight"))
                throw new ModelLoadException("Tensor 'lm_head.weight' is missing and tie_word_embeddings is false");
            Matrix("output.weight", "lm_head.weight", c.VocabSize, h);
        }
    }

    private static void WriteTensor(Stream stream, Checkpoint ckpt, string name, long[] shape, ScalarType dtype, int? ropeHeads, long[]? padded = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var t = ckpt.Load(name, shape, dtype, CPU);
        if (ropeHeads is { } heads) t = InterleaveRotaryHalves(t, heads);
        // Zeros after the real rows/columns (pad takes the last dimension first).
        if (padded is not null && !padded.SequenceEqual(shape))
            t = nn.functional.pad(t, [0, padded[1] - shape[1], 0, padded[0] - shape[0]]);
        stream.Write(t.contiguous().bytes);
    }

    /// <summary>
    /// Hugging Face checkpoints order each head's query/key rows as two halves (the rotary pairs are row j and row
    /// j + d/2); llama.cpp's <c>llama</c> rotation pairs adjacent rows (2j, 2j+1). Reorders rows from the first layout
    /// to the second: per head, [2, d/2] becomes [d/2, 2].
    /// </summary>
    public static Tensor InterleaveRotaryHalves(Tensor weight, int heads)
    {
        var rows = weight.shape[0];
        var rest = weight.shape.Skip(1).ToArray();
        return weight.reshape([heads, 2, rows / heads / 2, .. rest]).transpose(1, 2).reshape(weight.shape);
    }

    /// <summary>llama3 rope scaling as llama.cpp reads it: one divisor per rotary pair (unscaled ÷ scaled frequency).</summary>
    public static float[] RopeFrequencyFactors(ModelConfig c)
    {
        var scaled = RotaryEmbedding.InverseFrequencies(c);
        return scaled.Select((f, j) => (float)(1.0 / Math.Pow(c.RopeTheta, 2.0 * j / c.HeadDim) / f)).ToArray();
    }

    private static ScalarType TorchType(GgmlType t) => t switch
    {
        GgmlType.F32 => ScalarType.Float32,
        GgmlType.F16 => ScalarType.Float16,
        _ => ScalarType.BFloat16,
    };
}
