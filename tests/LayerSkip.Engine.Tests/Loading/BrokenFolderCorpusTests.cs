using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Loading;
using LayerSkip.Tests;

namespace LayerSkip.Engine.Tests.Loading;

/// <summary>
/// A corpus of broken copies of a real model folder (stories260K). Each unusable folder must fail with a
/// <see cref="ModelLoadException"/> naming the file at fault, quickly; each usable variation must load.
/// </summary>
[Collection(AllocationMeasurements.Name)]
public class BrokenFolderCorpusTests
{
    private const string Weights = "model.safetensors";
    private const string Config = "config.json";

    /// <summary>A named change to a copy of the folder and the file the error must name (null: the folder stays usable).</summary>
    public sealed record Case(string Name, Action<string> Break, string? File)
    {
        public override string ToString() => Name;
    }

    private static readonly Case[] All =
    [
        // The weights file: truncation, header length, header text.
        new("weights truncated to half", f => Truncate(f, Weights, 0.5), Weights),
        new("weights truncated to 5 bytes", f => TruncateTo(f, Weights, 5), Weights),
        new("weights empty", f => TruncateTo(f, Weights, 0), Weights),
        new("header length huge", f => SetHeaderLength(f, ulong.MaxValue / 2), Weights),
        new("header length zero", f => SetHeaderLength(f, 0), Weights),
        new("header length one short", f => SetHeaderLength(f, HeaderLength(f) - 1), Weights),
        new("header length past the header", f => SetHeaderLength(f, HeaderLength(f) + 1000), Weights),
        new("header invalid UTF-8", f => PatchHeaderByte(f, "model.norm.weight", 0xFF), Weights),
        new("header not JSON", f => PatchHeaderByte(f, "{", (byte)'#'), Weights),
        new("header a JSON array", f => WriteRawHeader(f, "[1,2,3]"), Weights),
        new("header an empty object over data", f => WriteRawHeader(f, "{}"), Weights),
        new("duplicate tensor name", f => DuplicateKey(f), Weights),
        // Offsets and dtypes.
        new("overlapping data_offsets", f => EditHeader(f, h =>
            h["model.layers.1.input_layernorm.weight"]!["data_offsets"] = h["model.layers.0.input_layernorm.weight"]!["data_offsets"]!.DeepClone()), Weights),
        new("offsets reversed", f => EditHeader(f, h => h["model.norm.weight"]!["data_offsets"] = new JsonArray(1040128, 1039872)), Weights),
        new("offsets negative", f => EditHeader(f, h => h["model.norm.weight"]!["data_offsets"] = new JsonArray(-256, 0)), Weights),
        new("offsets not numbers", f => EditHeader(f, h => h["model.norm.weight"]!["data_offsets"] = new JsonArray("a", "b")), Weights),
        new("offsets missing", f => EditHeader(f, h => h["model.norm.weight"]!.AsObject().Remove("data_offsets")), Weights),
        new("trailing bytes after the data", f => AppendBytes(f, Weights, 64), Weights),
        new("an I32 tensor where weights belong", f => EditHeader(f, h => h["model.layers.2.mlp.up_proj.weight"]!["dtype"] = "I32"), Weights),
        new("an unknown dtype", f => EditHeader(f, h => h["model.norm.weight"]!["dtype"] = "Q4_K"), Weights),
        new("shape disagrees with its bytes", f => EditHeader(f, h => h["model.norm.weight"]!["shape"] = new JsonArray(64, 64)), Weights),
        new("shape too large to address", f => EditHeader(f, h => h["model.norm.weight"]!["shape"] = new JsonArray(1L << 40, 1L << 40, 1L << 40)), Weights),
        new("negative dimension", f => EditHeader(f, h => h["model.norm.weight"]!["shape"] = new JsonArray(-64)), Weights),
        new("wrong shape with the right bytes", f => EditHeader(f, h => h["model.embed_tokens.weight"]!["shape"] = new JsonArray(256, 128)), Weights),
        new("a missing tensor", f => RemoveTensor(f, "model.layers.3.self_attn.k_proj.weight"), Weights),
        new("no weights file", f => System.IO.File.Delete(Path.Combine(f, Weights)), ""),
        // config.json.
        new("config missing", f => System.IO.File.Delete(Path.Combine(f, Config)), Config),
        new("config not JSON", f => System.IO.File.WriteAllText(Path.Combine(f, Config), "{ \"model_type\": "), Config),
        new("config an array", f => System.IO.File.WriteAllText(Path.Combine(f, Config), "[]"), Config),
        new("model_type a number", f => EditConfig(f, c => c["model_type"] = 7), Config),
        new("torch_dtype a number", f => EditConfig(f, c => c["torch_dtype"] = 32), Config),
        new("rope_type a number", f => EditConfig(f, c => c["rope_scaling"] = new JsonObject { ["rope_type"] = 3, ["factor"] = 8.0 }), Config),
        new("rope_scaling a string", f => EditConfig(f, c => c["rope_scaling"] = "linear"), Config),
        new("eos_token_id [\"x\"]", f => EditConfig(f, c => c["eos_token_id"] = new JsonArray("x")), Config),
        new("eos_token_id [null]", f => EditConfig(f, c => c["eos_token_id"] = new JsonArray((JsonNode?)null)), Config),
        new("eos_token_id an object", f => EditConfig(f, c => c["eos_token_id"] = new JsonObject()), Config),
        new("bos_token_id negative", f => EditConfig(f, c => c["bos_token_id"] = -1), Config),
        new("max_position_embeddings 1", f => EditConfig(f, c => c["max_position_embeddings"] = 1), Config),
        new("max_position_embeddings 0", f => EditConfig(f, c => c["max_position_embeddings"] = 0), Config),
        new("num_hidden_layers 4 of 5", f => EditConfig(f, c => c["num_hidden_layers"] = 4), Config),
        new("num_hidden_layers 1 of 5", f => EditConfig(f, c => c["num_hidden_layers"] = 1), Config),
        new("num_hidden_layers 6 of 5", f => EditConfig(f, c => c["num_hidden_layers"] = 6), Config),
        new("num_hidden_layers 999,999,995", f => EditConfig(f, c => c["num_hidden_layers"] = 999_999_995), Config),
        new("num_hidden_layers 2^31-1", f => EditConfig(f, c => c["num_hidden_layers"] = int.MaxValue), Config),
        new("num_hidden_layers 2^40", f => EditConfig(f, c => c["num_hidden_layers"] = 1L << 40), Config),
        new("num_hidden_layers 4.5", f => EditConfig(f, c => c["num_hidden_layers"] = 4.5), Config),
        new("hidden_size 2^31-1", f => EditConfig(f, c => c["hidden_size"] = int.MaxValue), Config),
        new("hidden_size 128", f => EditConfig(f, c => c["hidden_size"] = 128), Weights),
        new("vocab_size 10^9", f => EditConfig(f, c => c["vocab_size"] = 1_000_000_000), Config),
        new("vocab_size 511", f => EditConfig(f, c => c["vocab_size"] = 511), Weights),
        new("intermediate_size -1", f => EditConfig(f, c => c["intermediate_size"] = -1), Config),
        new("intermediate_size 99", f => EditConfig(f, c => c["intermediate_size"] = 99), Weights),
        new("num_attention_heads 0", f => EditConfig(f, c => c["num_attention_heads"] = 0), Config),
        new("num_key_value_heads 3", f => EditConfig(f, c => c["num_key_value_heads"] = 3), Config),
        new("num_key_value_heads 8", f => EditConfig(f, c => c["num_key_value_heads"] = 8), Weights),
        new("head_dim odd", f => EditConfig(f, c => c["head_dim"] = 7), Config),
        new("head_dim 16", f => EditConfig(f, c => c["head_dim"] = 16), Weights),
        new("rms_norm_eps -1", f => EditConfig(f, c => c["rms_norm_eps"] = -1), Config),
        new("rms_norm_eps 0", f => EditConfig(f, c => c["rms_norm_eps"] = 0), Config),
        new("rope_theta 0", f => EditConfig(f, c => c["rope_theta"] = 0), Config),
        new("rope_theta -1", f => EditConfig(f, c => c["rope_theta"] = -1), Config),
        new("rope_theta a string", f => EditConfig(f, c => c["rope_theta"] = "10000"), Config),
        new("tie_word_embeddings a string", f => EditConfig(f, c => c["tie_word_embeddings"] = "yes"), Config),
        new("untied without lm_head", f => EditConfig(f, c => c["tie_word_embeddings"] = false), Weights),
        // generation_config.json.
        new("generation_config not JSON", f => System.IO.File.WriteAllText(Path.Combine(f, "generation_config.json"), "{,}"), "generation_config.json"),
        new("generation_config eos [\"x\"]", f => EditJson(f, "generation_config.json", c => c["eos_token_id"] = new JsonArray("x")), "generation_config.json"),
        new("generation_config eos [null]", f => EditJson(f, "generation_config.json", c => c["eos_token_id"] = new JsonArray((JsonNode?)null)), "generation_config.json"),
        new("generation_config temperature a string", f => EditJson(f, "generation_config.json", c => c["temperature"] = "hot"), "generation_config.json"),
        new("generation_config top_p 7", f => EditJson(f, "generation_config.json", c => c["top_p"] = 7), "generation_config.json"),
        // Tokenizer files.
        new("tokenizer missing", f => System.IO.File.Delete(Path.Combine(f, "tokenizer.json")), "tokenizer.json"),
        new("tokenizer not JSON", f => System.IO.File.WriteAllText(Path.Combine(f, "tokenizer.json"), "{\"model\": "), "tokenizer.json"),
        new("tokenizer truncated", f => Truncate(f, "tokenizer.json", 0.5), "tokenizer.json"),
        new("tokenizer model an array", f => EditJson(f, "tokenizer.json", t => t["model"] = new JsonArray()), "tokenizer.json"),
        new("tokenizer vocab a string", f => EditJson(f, "tokenizer.json", t => t["model"]!["vocab"] = "abc"), "tokenizer.json"),
        new("tokenizer id 2,000,000,000", f => EditJson(f, "tokenizer.json", t => t["model"]!["vocab"]!["<unk>"] = 2_000_000_000), "tokenizer.json"),
        new("tokenizer id negative", f => EditJson(f, "tokenizer.json", t => t["model"]!["vocab"]!["<unk>"] = -5), "tokenizer.json"),
        new("tokenizer_config not JSON", f => System.IO.File.WriteAllText(Path.Combine(f, "tokenizer_config.json"), "nope"), "tokenizer_config.json"),
        new("tokenizer_config bos_token a number", f => EditJson(f, "tokenizer_config.json", t => t["bos_token"] = 5), "tokenizer_config.json"),
        new("tokenizer_config unknown eos_token", f => EditJson(f, "tokenizer_config.json", t => t["eos_token"] = "<no-such-token>"), "tokenizer_config.json"),
        // A sharded index.
        new("index not JSON", f => WriteIndex(f, "{ weight_map"), "model.safetensors.index.json"),
        new("index without weight_map", f => WriteIndex(f, "{}"), "model.safetensors.index.json"),
        new("index with a missing shard", f => WriteIndex(f, """{"weight_map":{"model.norm.weight":"model-00001-of-00002.safetensors"}}"""), "model.safetensors.index.json"),
        new("index naming /etc/passwd", f => WriteIndex(f, """{"weight_map":{"model.norm.weight":"/etc/passwd"}}"""), "model.safetensors.index.json"),
        new("index naming ../", f => WriteIndex(f, """{"weight_map":{"model.norm.weight":"../stories260K/model.safetensors"}}"""), "model.safetensors.index.json"),
        new("index mapping to a number", f => WriteIndex(f, """{"weight_map":{"model.norm.weight":5}}"""), "model.safetensors.index.json"),

        // Usable variations.
        new("as shipped", _ => { }, null),
        new("no generation_config", f => System.IO.File.Delete(Path.Combine(f, "generation_config.json")), null),
        new("no tokenizer_config", f => System.IO.File.Delete(Path.Combine(f, "tokenizer_config.json")), null),
        new("integers written as floats", f => EditConfig(f, c => { c["hidden_size"] = 64.0; c["num_hidden_layers"] = 5.0; }), null),
        new("unknown extra config keys", f => EditConfig(f, c => { c["sliding_window"] = null; c["foo"] = new JsonArray(1, "x"); }), null),
        new("eos_token_id a list", f => EditConfig(f, c => c["eos_token_id"] = new JsonArray(2, 1)), null),
        new("header metadata", f => EditHeader(f, h => h["__metadata__"] = new JsonObject { ["format"] = "pt" }), null),
        new("a valid index", f => WriteIndex(f, JsonIndexFor(f)), null),
    ];

    public static TheoryData<string> Cases() => new(All.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void EachFolderFailsNamingTheFileOrLoads(string name)
    {
        var c = All.Single(x => x.Name == name);
        var folder = CopyOfStories();
        try
        {
            c.Break(folder);
            var clock = Stopwatch.StartNew();
            var before = GC.GetTotalAllocatedBytes();
            if (c.File is null)
            {
                using var engine = InferenceEngine.Load(new EngineOptions { ModelPath = folder, Device = "cpu" });
                Assert.Equal(5, engine.Config.NumLayers);
                return;
            }
            var e = Assert.Throws<ModelLoadException>(() => InferenceEngine.Load(new EngineOptions { ModelPath = folder, Device = "cpu" }).Dispose());
            var expected = c.File.Length == 0 ? folder : Path.Combine(folder, c.File);
            Assert.Contains(expected, e.Message);
            Assert.True(e.FilePath == expected, $"FilePath {e.FilePath} is not {expected}: {e.Message}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{c.Name} took {clock.Elapsed}");
            Assert.True(GC.GetTotalAllocatedBytes() - before < 64L << 20, $"{c.Name} allocated {(GC.GetTotalAllocatedBytes() - before) >> 20} MiB before failing");
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void AMaxSequenceLengthBeyondTheModelsContextIsRefusedNamingTheOption()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            InferenceEngine.Load(new EngineOptions { ModelPath = SharedData.Stories260K, Device = "cpu", MaxSequenceLength = 2048 }).Dispose());
        Assert.Contains("MaxSequenceLength (--max-seq-len)", e.Message);
        Assert.Contains("max_position_embeddings", e.Message);
        Assert.Contains("512", e.Message);
        using var engine = InferenceEngine.Load(new EngineOptions { ModelPath = SharedData.Stories260K, Device = "cpu", MaxSequenceLength = 512 });
        Assert.Equal(512, engine.MaxSequenceLength);

        // Explicit RoPE scaling stretches the context it allows.
        var scaled = ModelConfig.Parse("""
            {"model_type":"llama","hidden_size":64,"intermediate_size":172,"num_hidden_layers":5,"num_attention_heads":8,"vocab_size":512,
             "max_position_embeddings":512,"rope_scaling":{"rope_type":"llama3","factor":4.0,"original_max_position_embeddings":512}}
            """);
        Assert.Equal(2048, scaled.SequenceLengthFor(2048));
        Assert.Throws<ArgumentOutOfRangeException>(() => scaled.SequenceLengthFor(2049));
    }

    // ---- folder editing helpers -------------------------------------------------------------------------------------

    private static string CopyOfStories()
    {
        var folder = Path.Combine(Path.GetTempPath(), "layerskip-corpus", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(SharedData.Stories260K))
            System.IO.File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        return folder;
    }

    private static void Truncate(string folder, string name, double share)
    {
        var path = Path.Combine(folder, name);
        var bytes = System.IO.File.ReadAllBytes(path);
        System.IO.File.WriteAllBytes(path, bytes[..(int)(bytes.Length * share)]);
    }

    private static void TruncateTo(string folder, string name, int length)
    {
        var path = Path.Combine(folder, name);
        System.IO.File.WriteAllBytes(path, System.IO.File.ReadAllBytes(path)[..length]);
    }

    private static void AppendBytes(string folder, string name, int count)
    {
        using var s = new FileStream(Path.Combine(folder, name), FileMode.Append);
        s.Write(new byte[count]);
    }

    private static ulong HeaderLength(string folder) =>
        BitConverter.ToUInt64(System.IO.File.ReadAllBytes(Path.Combine(folder, Weights)), 0);

    private static void SetHeaderLength(string folder, ulong length)
    {
        var path = Path.Combine(folder, Weights);
        var bytes = System.IO.File.ReadAllBytes(path);
        BitConverter.GetBytes(length).CopyTo(bytes, 0);
        System.IO.File.WriteAllBytes(path, bytes);
    }

    /// <summary>Overwrites the first byte of <paramref name="near"/> in the header.</summary>
    private static void PatchHeaderByte(string folder, string near, byte value)
    {
        var path = Path.Combine(folder, Weights);
        var bytes = System.IO.File.ReadAllBytes(path);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)BitConverter.ToUInt64(bytes, 0));
        bytes[8 + Encoding.UTF8.GetByteCount(header[..header.IndexOf(near, StringComparison.Ordinal)])] = value;
        System.IO.File.WriteAllBytes(path, bytes);
    }

    private static (string Header, byte[] Data) Split(string folder)
    {
        var bytes = System.IO.File.ReadAllBytes(Path.Combine(folder, Weights));
        var n = (int)BitConverter.ToUInt64(bytes, 0);
        return (Encoding.UTF8.GetString(bytes, 8, n), bytes[(8 + n)..]);
    }

    private static void WriteRawHeader(string folder, string header, byte[]? data = null)
    {
        data ??= Split(folder).Data;
        var h = Encoding.UTF8.GetBytes(header);
        using var s = System.IO.File.Create(Path.Combine(folder, Weights));
        s.Write(BitConverter.GetBytes((ulong)h.Length));
        s.Write(h);
        s.Write(data);
    }

    private static void EditHeader(string folder, Action<JsonObject> edit)
    {
        var (header, data) = Split(folder);
        var json = JsonNode.Parse(header)!.AsObject();
        edit(json);
        WriteRawHeader(folder, json.ToJsonString(), data);
    }

    private static void DuplicateKey(string folder)
    {
        var (header, data) = Split(folder);
        var json = JsonNode.Parse(header)!.AsObject();
        var norm = json["model.norm.weight"]!.ToJsonString();
        WriteRawHeader(folder, header.TrimEnd()[..^1] + ",\"model.norm.weight\":" + norm + "}", data);
    }

    /// <summary>Rewrites the file without one tensor (a well-formed file that lacks it).</summary>
    private static void RemoveTensor(string folder, string name)
    {
        var path = Path.Combine(folder, Weights);
        List<SafeTensorsWriter.Entry> entries;
        using (var f = SafeTensorsFile.Open(path))
            entries = f.Tensors.Values.Where(t => t.Name != name)
                .Select(t => new SafeTensorsWriter.Entry(t.Name, t.DType, t.Shape, f.GetBytes(t).ToArray())).ToList();
        SafeTensorsWriter.Write(path, entries);
    }

    private static void EditConfig(string folder, Action<JsonObject> edit) => EditJson(folder, Config, edit);

    private static void EditJson(string folder, string name, Action<JsonObject> edit)
    {
        var path = Path.Combine(folder, name);
        var json = JsonNode.Parse(System.IO.File.ReadAllText(path))!.AsObject();
        edit(json);
        System.IO.File.WriteAllText(path, json.ToJsonString());
    }

    private static void WriteIndex(string folder, string json) =>
        System.IO.File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), json);

    private static string JsonIndexFor(string folder)
    {
        using var f = SafeTensorsFile.Open(Path.Combine(folder, Weights));
        var map = new JsonObject();
        foreach (var name in f.Tensors.Keys) map[name] = Weights;
        return new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString();
    }
}
