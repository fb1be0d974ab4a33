using System.Text.Json.Nodes;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tests.Reference;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Loading;

/// <summary>Bad model folders fail with a <see cref="ModelLoadException"/> that names the file and the problem.</summary>
public class LoadingErrorTests
{
    private static ModelLoadException LoadFails(string folder) =>
        Assert.Throws<ModelLoadException>(() => DecoderModel.Load(folder, ScalarType.Float32, CPU).Dispose());

    [Fact]
    public void MissingFolder()
    {
        var e = LoadFails("/no/such/model/folder");
        Assert.Contains("Model folder not found", e.Message);
        Assert.Contains("/no/such/model/folder", e.Message);
    }

    [Fact]
    public void MissingConfigAndMissingWeights()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig());
        File.Move(Path.Combine(ckpt.Folder, "model.safetensors"), Path.Combine(ckpt.Folder, "elsewhere.bin"));
        Assert.Contains("neither model.safetensors nor model.safetensors.index.json", LoadFails(ckpt.Folder).Message);
        File.Delete(Path.Combine(ckpt.Folder, "config.json"));
        var e = LoadFails(ckpt.Folder);
        Assert.Contains("config.json is missing", e.Message);
        Assert.EndsWith("config.json)", e.Message);
    }

    [Fact]
    public void UnknownModelType()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig());
        EditConfig(ckpt, c => c["model_type"] = "gpt2");
        var e = LoadFails(ckpt.Folder);
        Assert.Contains("Unsupported model_type 'gpt2'", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void ConfigThatIsNotJsonOrLacksAField()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig());
        EditConfig(ckpt, c => c.Remove("hidden_size"));
        Assert.Contains("'hidden_size'", LoadFails(ckpt.Folder).Message);
        File.WriteAllText(Path.Combine(ckpt.Folder, "config.json"), "{ not json");
        Assert.Contains("not valid JSON", LoadFails(ckpt.Folder).Message);
    }

    [Fact]
    public void MissingTensor()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig());
        RewriteWeights(ckpt, entries => entries.Where(e => e.Name != "model.layers.2.mlp.up_proj.weight"));
        var e = LoadFails(ckpt.Folder);
        Assert.Contains("'model.layers.2.mlp.up_proj.weight' is missing", e.Message);
    }

    [Fact]
    public void TensorOfTheWrongShape()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig());
        EditConfig(ckpt, c => c["intermediate_size"] = 99);
        var e = LoadFails(ckpt.Folder);
        Assert.Contains("has shape [72, 32] but the config implies [99, 32]", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void TruncatedFile()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig());
        var path = Path.Combine(ckpt.Folder, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = LoadFails(ckpt.Folder);
        Assert.Contains("outside the", e.Message);
        Assert.Contains("truncated or corrupt", e.Message);
        File.WriteAllBytes(path, bytes[..5]);
        Assert.Contains("too short for the 8-byte header length", LoadFails(ckpt.Folder).Message);
    }

    [Fact]
    public void CorruptHeader()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig());
        var path = Path.Combine(ckpt.Folder, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        bytes[8] = (byte)'#'; // the header's opening brace
        File.WriteAllBytes(path, bytes);
        Assert.Contains("header is not valid JSON", LoadFails(ckpt.Folder).Message);
        BitConverter.GetBytes(ulong.MaxValue / 2).CopyTo(bytes, 0);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("does not fit the file", LoadFails(ckpt.Folder).Message);
    }

    [Fact]
    public void ConfigParsesEveryFieldTheEngineUses()
    {
        var c = ModelConfig.Parse("""
            {"model_type":"qwen2","hidden_size":64,"intermediate_size":128,"num_hidden_layers":3,"num_attention_heads":8,
             "num_key_value_heads":2,"vocab_size":100,"rope_theta":1000000.0,"rms_norm_eps":1e-6,"tie_word_embeddings":true,
             "max_position_embeddings":4096,"eos_token_id":[5,6],"bos_token_id":4,
             "rope_scaling":{"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}}
            """);
        Assert.Equal(ModelArchitecture.Qwen2, c.Architecture);
        Assert.True(c.AttentionBias); // qwen2 always has q/k/v biases
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(4, c.QueryGroups);
        Assert.Equal([5, 6], c.EosTokenIds);
        Assert.Equal(32.0, c.RopeScaling!.Factor);
        var g = c.WithGenerationConfig("""{"eos_token_id":[7,8,9],"temperature":0.6,"top_p":0.9,"do_sample":true}""");
        Assert.Equal([7, 8, 9], g.EosTokenIds);
        Assert.Equal(0.6, g.DefaultTemperature);
        Assert.Equal(0.0, c.WithGenerationConfig("""{"do_sample":false,"temperature":0.6}""").DefaultTemperature);
        Assert.Throws<ModelLoadException>(() => ModelConfig.Parse("""{"model_type":"llama","hidden_size":64,"intermediate_size":1,"num_hidden_layers":1,"num_attention_heads":6,"num_key_value_heads":4,"vocab_size":10}"""));
    }

    private static void EditConfig(TinyCheckpoint ckpt, Action<JsonObject> edit)
    {
        var path = Path.Combine(ckpt.Folder, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    private static void RewriteWeights(TinyCheckpoint ckpt, Func<IEnumerable<SafeTensorsWriter.Entry>, IEnumerable<SafeTensorsWriter.Entry>> change)
    {
        var entries = ckpt.Weights.Select(kv => SafeTensorsWriter.F32(kv.Key, kv.Value, Shape(ckpt, kv.Key))).ToList();
        SafeTensorsWriter.Write(Path.Combine(ckpt.Folder, "model.safetensors"), change(entries));
    }

    private static long[] Shape(TinyCheckpoint ckpt, string name)
    {
        using var f = SafeTensorsFile.Open(Path.Combine(ckpt.Folder, "model.safetensors"));
        return f.Tensors[name].Shape;
    }
}
