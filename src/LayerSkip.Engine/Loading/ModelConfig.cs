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

    /// <summary>The default longest sequence: the model's context, capped so the RoPE tables stay small.</summary>
    public const int DefaultSequenceCap = 8192;

    /// <summary>
    /// The longest sequence (prompt plus output) an engine for this model may run: <paramref name="requested"/>, or
    /// the model's context capped at <see cref="DefaultSequenceCap"/>. A request beyond max_position_embeddings is
    /// refused (positions the model was never trained on give garbage) unless rope_scaling stretches the context.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The requested length is below 2 or beyond the model's context; the message names the option.</exception>
    public int SequenceLengthFor(int? requested, string option = "MaxSequenceLength (--max-seq-len)")
    {
        if (requested is not { } length) return Math.Min(MaxPositionEmbeddings, DefaultSequenceCap);
        const string parameter = "MaxSequenceLength";
        if (length < 2) throw new ArgumentOutOfRangeException(parameter, length, $"{option} must be at least 2, got {length}.");
        var context = RopeScaling is { } s
            ? Math.Max(MaxPositionEmbeddings, (long)Math.Min(int.MaxValue, s.OriginalMaxPositionEmbeddings * s.Factor))
            : MaxPositionEmbeddings;
        if (length > context)
            throw new ArgumentOutOfRangeException(parameter, length,
                $"{option} is {length}, beyond the model's context of {context} positions (max_position_embeddings in config.json" +
                (RopeScaling is null ? ", and no rope_scaling extends it" : ", with its rope_scaling") + "). Ask for at most " + context + ".");
        return length;
    }

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
    /// <exception cref="ModelLoadException">Not JSON, a field of the wrong type, or a value no real model has.</exception>
    public static ModelConfig Parse(string json, string source = "config.json")
    {
        var f = JsonFields.Parse(json, source);
        var type = f.String("model_type") ?? throw f.Error("has no model_type");
        var arch = type.ToLowerInvariant() switch
        {
            "llama" => ModelArchitecture.Llama,
            "mistral" => ModelArchitecture.Mistral,
            "qwen2" => ModelArchitecture.Qwen2,
            "qwen3" => ModelArchitecture.Qwen3,
            _ => throw new ModelLoadException(
                $"Unsupported model_type '{type}': this engine runs llama, mistral, qwen2 and qwen3 decoders", source),
        };

        // Ranges generous enough for every released model, tight enough that no number here sizes an absurd allocation.
        var hidden = f.RequiredInt("hidden_size", 1, 1 << 17);
        var heads = f.RequiredInt("num_attention_heads", 1, 4096);
        var kvHeads = f.Int("num_key_value_heads", 1, 4096) ?? heads;
        if (heads % kvHeads != 0)
            throw new ModelLoadException($"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kvHeads})", source);
        var headDim = f.Int("head_dim", 1, 4096) ?? hidden / heads;
        if (headDim < 1) throw f.Error($"hidden_size {hidden} is smaller than num_attention_heads {heads}, so there is no head_dim");
        if (headDim % 2 != 0) throw f.Error($"head_dim {headDim} is odd; rotary embeddings rotate pairs of dimensions");
        var qwen2Bias = arch == ModelArchitecture.Qwen2;

        return new ModelConfig
        {
            Architecture = arch,
            HiddenSize = hidden,
            IntermediateSize = f.RequiredInt("intermediate_size", 1, 1 << 20),
            NumLayers = f.RequiredInt("num_hidden_layers", 1, MaxLayers),
            NumHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = f.RequiredInt("vocab_size", 1, 1 << 24),
            MaxPositionEmbeddings = f.Int("max_position_embeddings", 2, int.MaxValue) ?? 2048,
            RmsNormEps = f.Double("rms_norm_eps", 0, 1, exclusiveMin: true) ?? 1e-6,
            RopeTheta = f.Double("rope_theta", 0, 1e12, exclusiveMin: true) ?? 10000.0,
            RopeScaling = ParseRopeScaling(f),
            TieWordEmbeddings = f.Bool("tie_word_embeddings") ?? false,
            AttentionBias = qwen2Bias || (f.Bool("attention_bias") ?? false),
            BosTokenId = f.Int("bos_token_id", 0, int.MaxValue),
            EosTokenIds = f.Ids("eos_token_id"),
            TorchDType = f.String("torch_dtype"),
        };
    }

    /// <summary>The most decoder layers a config may declare (the largest released models have under 200).</summary>
    public const int MaxLayers = 1024;

    /// <summary>generation_config.json: eos may be a list, and it may set default sampling parameters.</summary>
    /// <exception cref="ModelLoadException">Not JSON, or a field of the wrong type or range.</exception>
    public ModelConfig WithGenerationConfig(string json, string source = "generation_config.json")
    {
        var f = JsonFields.Parse(json, source);
        var eos = f.Ids("eos_token_id");
        var doSample = f.Bool("do_sample");
        var temperature = f.Double("temperature", 0, 100);
        return this with
        {
            BosTokenId = f.Int("bos_token_id", 0, int.MaxValue) ?? BosTokenId,
            EosTokenIds = eos.Count > 0 ? eos : EosTokenIds,
            // A config that says do_sample=false asks for greedy decoding by default.
            DefaultTemperature = doSample == false ? 0.0 : temperature ?? DefaultTemperature,
            DefaultTopP = f.Double("top_p", 0, 1) ?? DefaultTopP,
            DefaultTopK = f.Int("top_k", 0, int.MaxValue) ?? DefaultTopK,
        };
    }

    private static RopeScaling? ParseRopeScaling(JsonFields config)
    {
        var node = config["rope_scaling"];
        if (node is null) return null;
        if (node is not JsonObject o) throw config.Error("'rope_scaling' must be an object or null");
        var f = new JsonFields(o, config.Source);
        var type = f.String("rope_type") ?? f.String("type") ?? "default";
        if (type is "default") return null;
        if (type != "llama3")
            throw new ModelLoadException($"Unsupported rope_scaling type '{type}' (supported: llama3)", config.Source);
        var low = f.Double("low_freq_factor", 0, 1e6, exclusiveMin: true) ?? 1.0;
        var high = f.Double("high_freq_factor", 0, 1e6, exclusiveMin: true) ?? 4.0;
        if (high <= low) throw config.Error($"rope_scaling.high_freq_factor ({high}) must be above low_freq_factor ({low})");
        return new RopeScaling(
            type,
            f.Double("factor", 0, 1e6, exclusiveMin: true) ?? 8.0,
            low,
            high,
            f.Int("original_max_position_embeddings", 1, int.MaxValue) ?? 8192);
    }

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
