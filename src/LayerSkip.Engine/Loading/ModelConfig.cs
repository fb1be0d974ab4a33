using System.Text.Json;
using System.Text.Json.Nodes;

namespace LayerSkip.Engine.Loading;

/// <summary>The architecture families the engine runs; they differ only in biases and per-head norms.</summary>
public enum ModelArchitecture { Llama, Mistral, Qwen2, Qwen3 }

/// <summary>
/// The decoder hyper-parameters of a Hugging Face LLaMA-family <c>config.json</c>
/// (plus bos/eos from <c>generation_config.json</c>, which wins where both say something).
/// </summary>
public sealed record ModelConfig
{
    public required ModelArchitecture Architecture { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Biases on the q, k and v projections (always on for Qwen2; <c>attention_bias</c> elsewhere).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>Per-head RMSNorm of queries and keys before RoPE (Qwen3).</summary>
    public bool QkNorm => Architecture == ModelArchitecture.Qwen3;
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>Default sampling temperature from generation_config.json, when it sets one.</summary>
    public double? DefaultTemperature { get; init; }
    public double? DefaultTopP { get; init; }
    public int? DefaultTopK { get; init; }
    public string? TorchDType { get; init; }

    public int QueryGroups => NumHeads / NumKeyValueHeads;

    /// <summary>Reads config.json (and generation_config.json when present) from a model folder.</summary>
    public static ModelConfig Load(string modelFolder)
    {
        if (!Directory.Exists(modelFolder))
            throw new ModelLoadException("Model folder not found", modelFolder);
        var configPath = Path.Combine(modelFolder, "config.json");
        if (!File.Exists(configPath))
            throw new ModelLoadException("config.json is missing from the model folder", configPath);
        var config = Parse(File.ReadAllText(configPath), configPath);
        var genPath = Path.Combine(modelFolder, "generation_config.json");
        return File.Exists(genPath) ? config.WithGenerationConfig(File.ReadAllText(genPath), genPath) : config;
    }

    /// <summary>Parses the text of a config.json; <paramref name="source"/> names it in errors.</summary>
    public static ModelConfig Parse(string json, string source = "config.json")
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new ModelLoadException("config.json is not a JSON object", source);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"config.json is not valid JSON: {e.Message}", source, e);
        }

        var type = root["model_type"]?.GetValue<string>()
                   ?? throw new ModelLoadException("config.json has no model_type", source);
        var arch = type.ToLowerInvariant() switch
        {
            "llama" => ModelArchitecture.Llama,
            "mistral" => ModelArchitecture.Mistral,
            "qwen2" => ModelArchitecture.Qwen2,
            "qwen3" => ModelArchitecture.Qwen3,
            _ => throw new ModelLoadException(
                $"Unsupported model_type '{type}': this engine runs llama, mistral, qwen2 and qwen3 decoders", source),
        };

        int Req(string key) => root[key] is JsonValue v && v.TryGetValue<int>(out var i) && i > 0
            ? i
            : throw new ModelLoadException($"config.json needs a positive integer '{key}'", source);

        var hidden = Req("hidden_size");
        var heads = Req("num_attention_heads");
        var kvHeads = root["num_key_value_heads"] is JsonValue kv && kv.TryGetValue<int>(out var k) ? k : heads;
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new ModelLoadException($"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kvHeads})", source);
        var headDim = root["head_dim"] is JsonValue hd && hd.TryGetValue<int>(out var h) && h > 0 ? h : hidden / heads;

        return new ModelConfig
        {
            Architecture = arch,
            HiddenSize = hidden,
            IntermediateSize = Req("intermediate_size"),
            NumLayers = Req("num_hidden_layers"),
            NumHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = Req("vocab_size"),
            MaxPositionEmbeddings = OptInt(root, "max_position_embeddings") ?? 2048,
            RmsNormEps = OptDouble(root, "rms_norm_eps") ?? 1e-6,
            RopeTheta = OptDouble(root, "rope_theta") ?? 10000.0,
            RopeScaling = ParseRopeScaling(root["rope_scaling"], source),
            TieWordEmbeddings = OptBool(root, "tie_word_embeddings") ?? false,
            AttentionBias = arch == ModelArchitecture.Qwen2 || (OptBool(root, "attention_bias") ?? false),
            BosTokenId = OptInt(root, "bos_token_id"),
            EosTokenIds = ReadIds(root["eos_token_id"]),
            TorchDType = root["torch_dtype"]?.GetValue<string>(),
        };
    }

    /// <summary>generation_config.json: eos may be a list, and it may set default sampling parameters.</summary>
    public ModelConfig WithGenerationConfig(string json, string source = "generation_config.json")
    {
        JsonObject gen;
        try
        {
            gen = JsonNode.Parse(json) as JsonObject ?? throw new ModelLoadException("generation_config.json is not a JSON object", source);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"generation_config.json is not valid JSON: {e.Message}", source, e);
        }
        var eos = ReadIds(gen["eos_token_id"]);
        var doSample = OptBool(gen, "do_sample");
        return this with
        {
            BosTokenId = OptInt(gen, "bos_token_id") ?? BosTokenId,
            EosTokenIds = eos.Count > 0 ? eos : EosTokenIds,
            // A config that says do_sample=false asks for greedy decoding by default.
            DefaultTemperature = doSample == false ? 0.0 : OptDouble(gen, "temperature") ?? DefaultTemperature,
            DefaultTopP = OptDouble(gen, "top_p") ?? DefaultTopP,
            DefaultTopK = OptInt(gen, "top_k") ?? DefaultTopK,
        };
    }

    private static RopeScaling? ParseRopeScaling(JsonNode? node, string source)
    {
        if (node is not JsonObject o) return null;
        var type = (o["rope_type"] ?? o["type"])?.GetValue<string>() ?? "default";
        if (type is "default") return null;
        if (type != "llama3")
            throw new ModelLoadException($"Unsupported rope_scaling type '{type}' (supported: llama3)", source);
        return new RopeScaling(
            type,
            OptDouble(o, "factor") ?? 8.0,
            OptDouble(o, "low_freq_factor") ?? 1.0,
            OptDouble(o, "high_freq_factor") ?? 4.0,
            OptInt(o, "original_max_position_embeddings") ?? 8192);
    }

    private static IReadOnlyList<int> ReadIds(JsonNode? node) => node switch
    {
        JsonArray a => a.Select(x => x!.GetValue<int>()).ToArray(),
        JsonValue v when v.TryGetValue<int>(out var i) => [i],
        _ => [],
    };

    private static int? OptInt(JsonObject o, string key) =>
        o[key] is JsonValue v && v.TryGetValue<int>(out var i) ? i :
        o[key] is JsonValue d && d.TryGetValue<double>(out var x) && x == Math.Floor(x) ? (int)x : null;

    private static double? OptDouble(JsonObject o, string key) =>
        o[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;

    private static bool? OptBool(JsonObject o, string key) =>
        o[key] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : null;

    /// <summary>Writes a config.json equivalent (used for checkpoints the engine writes).</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["model_type"] = Architecture.ToString().ToLowerInvariant(),
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumLayers,
            ["num_attention_heads"] = NumHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["head_dim"] = HeadDim,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["attention_bias"] = AttentionBias,
            ["hidden_act"] = "silu",
        };
        if (BosTokenId is int bos) o["bos_token_id"] = bos;
        if (EosTokenIds.Count == 1) o["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Count > 1) o["eos_token_id"] = new JsonArray(EosTokenIds.Select(i => (JsonNode)i).ToArray());
        if (RopeScaling is { } rs)
            o["rope_scaling"] = new JsonObject
            {
                ["rope_type"] = rs.Type, ["factor"] = rs.Factor, ["low_freq_factor"] = rs.LowFreqFactor,
                ["high_freq_factor"] = rs.HighFreqFactor, ["original_max_position_embeddings"] = rs.OriginalMaxPositionEmbeddings,
            };
        return o;
    }
}
