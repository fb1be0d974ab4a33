using System.Runtime.InteropServices;
using LayerSkip.Engine.Export.Gguf;
using LayerSkip.Engine.Loading;
using LayerSkip.Tests;

namespace LayerSkip.Engine.Tests.Export;

public sealed class GgufWriterTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("gguf-test-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Round_trip_keeps_metadata_tensor_table_and_aligned_data()
    {
        var path = Path.Combine(_folder, "small.gguf");
        var matrix = Enumerable.Range(0, 15).Select(i => i * 0.5f).ToArray(); // [3, 5]
        var half = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();   // [2, 16] of 2-byte elements
        var w = new GgufWriter();
        w.AddString("general.architecture", "llama").AddUInt32("llama.block_count", 7).AddFloat32("eps", 1e-5f)
            .AddBool("flag", true).AddInt32("neg", -3)
            .AddStrings("words", ["a", "▁b", ""]).AddFloat32s("scores", [0f, -1.5f]).AddInt32s("types", [1, 6]);
        w.AddTensor("m", [3, 5], GgmlType.F32, s => s.Write(MemoryMarshal.AsBytes(matrix.AsSpan())));
        w.AddTensor("h", [2, 16], GgmlType.BF16, s => s.Write(half));
        w.Write(path);

        var r = new GgufTestReader(path);
        Assert.Equal(3u, r.Version);
        Assert.Equal(32u, r.Get<uint>("general.alignment"));
        Assert.Equal("llama", r.Get<string>("general.architecture"));
        Assert.Equal(7u, r.Get<uint>("llama.block_count"));
        Assert.Equal(1e-5f, r.Get<float>("eps"));
        Assert.True(r.Get<bool>("flag"));
        Assert.Equal(-3, r.Get<int>("neg"));
        Assert.Equal(["a", "▁b", ""], r.Get<object[]>("words").Cast<string>());
        Assert.Equal([0f, -1.5f], r.Get<object[]>("scores").Cast<float>());
        Assert.Equal([1, 6], r.Get<object[]>("types").Cast<int>());

        Assert.Equal(["m", "h"], r.Tensors.Select(t => t.Name));
        Assert.Equal([5L, 3L], r.Tensor("m").Dims); // innermost dimension first
        Assert.Equal([16L, 2L], r.Tensor("h").Dims);
        Assert.Equal(GgmlType.BF16, r.Tensor("h").Type);
        Assert.Equal(0, r.Tensor("m").Offset);
        Assert.Equal(64, r.Tensor("h").Offset); // 60 bytes of "m" rounded up to the 32-byte alignment
        Assert.Equal(0, r.DataStart % 32);
        Assert.Equal(matrix, r.Floats("m"));
        Assert.Equal(half, r.Data("h").ToArray());
        Assert.Equal(r.DataStart + 64 + 64, new FileInfo(path).Length);
    }

    [Fact]
    public void A_tensor_writer_that_writes_the_wrong_size_fails_and_leaves_no_file()
    {
        var path = Path.Combine(_folder, "bad.gguf");
        var w = new GgufWriter();
        w.AddTensor("m", [2, 2], GgmlType.F32, s => s.Write(new byte[12]));
        var e = Assert.Throws<InvalidOperationException>(() => w.Write(path));
        Assert.Contains("'m'", e.Message);
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void Bad_shapes_and_duplicate_keys_are_rejected_with_the_name()
    {
        var w = new GgufWriter();
        Assert.Contains("'q'", Assert.Throws<ArgumentException>(() => w.AddTensor("q", [4, 40], GgmlType.Q8_0, _ => { })).Message);
        Assert.Contains("'z'", Assert.Throws<ArgumentException>(() => w.AddTensor("z", [0, 4], GgmlType.F32, _ => { })).Message);
        Assert.Contains("general.alignment", Assert.Throws<ArgumentException>(() => w.AddUInt32("general.alignment", 64)).Message);
    }

    [Fact]
    public void Stories260K_exports_hyperparameters_vocabulary_and_llama_cpp_tensor_layout()
    {
        var path = Path.Combine(_folder, "stories.gguf");
        GgufModelExporter.Export(SharedData.Stories260K, path, GgmlType.F32);
        var r = new GgufTestReader(path);
        var c = ModelConfig.Load(SharedData.Stories260K);

        Assert.Equal("llama", r.Get<string>("general.architecture"));
        Assert.Equal((uint)c.NumLayers, r.Get<uint>("llama.block_count"));
        Assert.Equal((uint)c.HiddenSize, r.Get<uint>("llama.embedding_length"));
        Assert.Equal((uint)c.IntermediateSize, r.Get<uint>("llama.feed_forward_length"));
        Assert.Equal((uint)c.NumHeads, r.Get<uint>("llama.attention.head_count"));
        Assert.Equal((uint)c.NumKeyValueHeads, r.Get<uint>("llama.attention.head_count_kv"));
        Assert.Equal((uint)c.HeadDim, r.Get<uint>("llama.rope.dimension_count"));
        Assert.Equal((float)c.RmsNormEps, r.Get<float>("llama.attention.layer_norm_rms_epsilon"));
        Assert.Equal((float)c.RopeTheta, r.Get<float>("llama.rope.freq_base"));

        Assert.Equal("llama", r.Get<string>("tokenizer.ggml.model"));
        var tokens = r.Get<object[]>("tokenizer.ggml.tokens").Cast<string>().ToList();
        var types = r.Get<object[]>("tokenizer.ggml.token_type").Cast<int>().ToList();
        Assert.Equal(c.VocabSize, tokens.Count);
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], tokens.Take(4));
        Assert.Equal([(int)GgufTokenType.Unknown, (int)GgufTokenType.Control, (int)GgufTokenType.Control, (int)GgufTokenType.Byte], types.Take(4));
        Assert.Equal("▁t", tokens[259]);
        Assert.Equal((int)GgufTokenType.Normal, types[259]);
        Assert.Equal(1u, r.Get<uint>("tokenizer.ggml.bos_token_id"));
        Assert.Equal(2u, r.Get<uint>("tokenizer.ggml.eos_token_id"));

        // Tied embeddings: no output.weight; 9 tensors per block plus embedding and final norm.
        Assert.Equal(2 + 9 * c.NumLayers, r.Tensors.Count);
        Assert.DoesNotContain(r.Tensors, t => t.Name == "output.weight");
        Assert.Equal([(long)c.HiddenSize, c.IntermediateSize], r.Tensor("blk.0.ffn_gate.weight").Dims);
        Assert.Equal([(long)c.IntermediateSize, c.HiddenSize], r.Tensor("blk.0.ffn_down.weight").Dims);

        using var st = SafeTensorsFile.Open(Path.Combine(SharedData.Stories260K, "model.safetensors"));
        float[] Hf(string name) => MemoryMarshal.Cast<byte, float>(st.GetBytes(st.Tensors[name])).ToArray();
        Assert.Equal(Hf("model.embed_tokens.weight"), r.Floats("token_embd.weight"));
        Assert.Equal(Hf("model.layers.3.mlp.down_proj.weight"), r.Floats("blk.3.ffn_down.weight"));
        Assert.Equal(Hf("model.layers.3.self_attn.v_proj.weight"), r.Floats("blk.3.attn_v.weight"));

        // Rotary rows: Hugging Face row (head, half k, pair j) becomes llama.cpp row (head, pair j, k).
        AssertRotaryRowsInterleaved(Hf("model.layers.2.self_attn.q_proj.weight"), r.Floats("blk.2.attn_q.weight"), c.NumHeads, c.HeadDim, c.HiddenSize);
        AssertRotaryRowsInterleaved(Hf("model.layers.2.self_attn.k_proj.weight"), r.Floats("blk.2.attn_k.weight"), c.NumKeyValueHeads, c.HeadDim, c.HiddenSize);
    }

    [Fact]
    public void Feed_forward_padding_appends_zero_units_and_keeps_the_real_weights()
    {
        var path = Path.Combine(_folder, "padded.gguf");
        GgufModelExporter.Export(SharedData.Stories260K, path, GgmlType.F32, feedForwardMultiple: 32);
        var r = new GgufTestReader(path);
        var c = ModelConfig.Load(SharedData.Stories260K);
        const int padded = 192; // 172 rounded up to whole 32-element blocks
        long h = c.HiddenSize, ff = c.IntermediateSize;

        Assert.Equal((uint)padded, r.Get<uint>("llama.feed_forward_length"));
        Assert.Equal([h, padded], r.Tensor("blk.1.ffn_up.weight").Dims);
        Assert.Equal([(long)padded, h], r.Tensor("blk.1.ffn_down.weight").Dims);
        using var st = SafeTensorsFile.Open(Path.Combine(SharedData.Stories260K, "model.safetensors"));
        float[] Hf(string name) => MemoryMarshal.Cast<byte, float>(st.GetBytes(st.Tensors[name])).ToArray();

        // gate/up: the real rows first, then zero rows.
        var up = r.Floats("blk.1.ffn_up.weight");
        Assert.Equal(Hf("model.layers.1.mlp.up_proj.weight"), up.AsSpan(0, (int)(ff * h)).ToArray());
        Assert.All(up.AsSpan((int)(ff * h)).ToArray(), v => Assert.Equal(0f, v));
        // down: each row keeps its real columns, then zero columns.
        var down = r.Floats("blk.1.ffn_down.weight");
        var hfDown = Hf("model.layers.1.mlp.down_proj.weight");
        for (var row = 0; row < h; row++)
        {
            Assert.Equal(hfDown.AsSpan(row * (int)ff, (int)ff).ToArray(), down.AsSpan(row * padded, (int)ff).ToArray());
            Assert.All(down.AsSpan(row * padded + (int)ff, padded - (int)ff).ToArray(), v => Assert.Equal(0f, v));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => GgufModelExporter.Export(SharedData.Stories260K, path, GgmlType.F32, feedForwardMultiple: 0));
    }

    private static void AssertRotaryRowsInterleaved(float[] hf, float[] gguf, int heads, int headDim, int columns)
    {
        Assert.Equal(hf.Length, gguf.Length);
        var half = headDim / 2;
        for (var h = 0; h < heads; h++)
            for (var j = 0; j < half; j++)
                for (var k = 0; k < 2; k++)
                    Assert.Equal(
                        hf.AsSpan((h * headDim + k * half + j) * columns, columns).ToArray(),
                        gguf.AsSpan((h * headDim + 2 * j + k) * columns, columns).ToArray());
    }

    [Fact]
    public void Llama3_rope_scaling_is_written_as_frequency_divisors()
    {
        var c = LayerSkip.Engine.Model.ModelShapes.Get("llama-1b");
        var factors = GgufModelExporter.RopeFrequencyFactors(c);
        Assert.Equal(c.HeadDim / 2, factors.Length);
        // High frequencies are untouched, the lowest are divided by the scaling factor (32 for Llama 3.2).
        Assert.Equal(1f, factors[0], 5);
        Assert.Equal(32f, factors[^1], 3);
        Assert.All(factors, f => Assert.InRange(f, 1f, 32f));
    }
}
