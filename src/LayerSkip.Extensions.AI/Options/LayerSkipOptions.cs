using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Extensions.AI;

/// <summary>Options of a <see cref="LayerSkipChatClient"/> (bound from the "LayerSkip" configuration section in DI).</summary>
public sealed class LayerSkipOptions
{
    /// <summary>
    /// A Hugging Face model folder (config.json, *.safetensors, tokenizer files), or a Hugging Face cache repo folder
    /// (<c>models--Org--Name</c>, resolved through refs/main to its snapshot).
    /// </summary>
    public string ModelPath { get; set; } = "";

    /// <summary><c>auto</c> (CUDA when available), <c>cpu</c> or <c>cuda</c>.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Target decode speedup for requests that do not set <c>layerskip.speedup_ratio</c>; 1 runs every layer.</summary>
    public double DefaultSpeedupRatio { get; set; } = 1.0;

    /// <summary>Skip policy for requests that do not set <c>layerskip.policy</c>.</summary>
    public LayerPolicy DefaultSkipPolicy { get; set; } = LayerPolicy.Unified;

    /// <summary>The most requests decoded together per layer plan.</summary>
    public int MaxBatchSize { get; set; } = 16;

    /// <summary>
    /// The longest prompt plus output in tokens; null uses the model's context (capped at 8192). Loading refuses a value
    /// beyond the model's max_position_embeddings unless its rope_scaling extends the context.
    /// </summary>
    public int? MaxSequenceLength { get; set; }

    /// <summary><c>float32</c>, <c>bfloat16</c> or <c>float16</c>; null picks float32 on CPU and bfloat16 on CUDA.</summary>
    public string? ComputeDType { get; set; }

    /// <summary>The model id reported in responses; null uses the model folder's name.</summary>
    public string? ModelId { get; set; }

    /// <summary>Output token limit for requests that set no <c>MaxOutputTokens</c>.</summary>
    public int DefaultMaxOutputTokens { get; set; } = 512;

    /// <summary>Intra-op CPU threads for libtorch; null uses every core.</summary>
    public int? Threads { get; set; }

    /// <summary>
    /// Weight-only quantization at load: <c>none</c> (default), <c>int8</c> or <c>int4</c>. Decoding reads a quarter
    /// (int4) or half (int8) of the bfloat16 weight bytes per token, at a small cost in quality (docs/benchmarks.md).
    /// </summary>
    public string Quantization { get; set; } = "none";

    /// <summary>Columns per int4 group (a power of two from 32: 32, 64, 128, ...); null uses the default.</summary>
    public int? QuantizationGroupSize { get; set; }

    /// <summary>
    /// The LM head's format when it should differ from <see cref="Quantization"/>: <c>int8</c> or <c>int4</c>; null
    /// keeps the layers' format. <c>int8</c> under <c>int4</c> is the mix of llama.cpp's Q4_0 files: better quality on
    /// small models, more bytes per token on large vocabularies (+17 % on the Llama-3.2-1B shape).
    /// </summary>
    public string? QuantizationHead { get; set; }

    /// <summary>Text used to rank layers for <see cref="LayerPolicy.Calibrated"/>; null uses a built-in English sample.</summary>
    public string? CalibrationText { get; set; }

    /// <summary>
    /// When the model folder records the plan it was adapted for (<c>layerskip adapt</c> writes it into config.json),
    /// requests that choose no plan of their own use that plan instead of the defaults above. Passed to the engine
    /// the client loads (<see cref="EngineOptions.UseAdaptedPlan"/>); an engine loaded elsewhere keeps its own setting.
    /// </summary>
    public bool UseAdaptedPlan { get; set; } = true;

    /// <summary>Bytes of full-depth prompt KV caches kept for follow-up turns (at most four prompts); 0 keeps none.</summary>
    public long PrefixCacheBytes { get; set; } = LayerSkip.Engine.Generation.EngineOptions.DefaultPrefixCacheBytes;

    /// <summary>Seed of the <see cref="LayerPolicy.Random"/> policy.</summary>
    public int RandomPolicySeed { get; set; }

    /// <summary>The engine settings these options imply.</summary>
    internal EngineOptions ToEngineOptions() => new()
    {
        UseAdaptedPlan = UseAdaptedPlan,
        CalibrationText = CalibrationText,
        ModelPath = ModelPath,
        Device = Device,
        ComputeDType = ComputeDType,
        MaxBatchSize = MaxBatchSize,
        MaxSequenceLength = MaxSequenceLength,
        Threads = Threads,
        Quantization = Quantization,
        GroupSize = QuantizationGroupSize,
        HeadQuantization = QuantizationHead,
        PrefixCacheBytes = PrefixCacheBytes,
    };

    /// <summary>What a request that leaves the layer-skip choice out gets.</summary>
    internal LayerSkipRequest DefaultRequest() => new() { SpeedupRatio = DefaultSpeedupRatio, Policy = DefaultSkipPolicy, Seed = RandomPolicySeed };

    /// <summary>Checks the default layer-skip choice the way every request is checked (<see cref="LayerSkipRequest"/>).</summary>
    internal void ValidateDefaults()
    {
        try
        {
            DefaultRequest();
        }
        catch (ArgumentException e)
        {
            var name = e.ParamName == nameof(LayerSkipRequest.Policy) ? nameof(DefaultSkipPolicy) : nameof(DefaultSpeedupRatio);
            var reason = e.ParamName is { } p ? e.Message.Replace($" (Parameter '{p}')", "").Split(Environment.NewLine)[0] : e.Message;
            throw new ArgumentException($"LayerSkipOptions.{name}: {reason}", name, e);
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelPath))
            throw new ArgumentException("LayerSkipOptions.ModelPath is required: set it to a Hugging Face model folder.", nameof(ModelPath));
        // A file (a .gguf, say) passes here so the loader can say what to pass instead.
        if (!Directory.Exists(ModelPath) && !File.Exists(ModelPath))
            throw new ArgumentException($"LayerSkipOptions.ModelPath '{ModelPath}' does not exist.", nameof(ModelPath));
        ValidateDefaults();
        if (MaxBatchSize < 1) throw new ArgumentException($"LayerSkipOptions.MaxBatchSize must be at least 1, got {MaxBatchSize}.", nameof(MaxBatchSize));
        if (MaxSequenceLength is < 2) throw new ArgumentException($"LayerSkipOptions.MaxSequenceLength must be at least 2, got {MaxSequenceLength}.", nameof(MaxSequenceLength));
        if (PrefixCacheBytes < 0) throw new ArgumentException($"LayerSkipOptions.PrefixCacheBytes must be 0 or more, got {PrefixCacheBytes}.", nameof(PrefixCacheBytes));
        if (DefaultMaxOutputTokens < 1) throw new ArgumentException($"LayerSkipOptions.DefaultMaxOutputTokens must be at least 1, got {DefaultMaxOutputTokens}.", nameof(DefaultMaxOutputTokens));
        if (QuantizationGroupSize is { } g && !LayerSkip.Engine.Model.WeightQuantization.IsValidGroupSize(g))
            throw new ArgumentException($"LayerSkipOptions.QuantizationGroupSize must be a power of two from 32 (32, 64, 128, ...), got {g}.", nameof(QuantizationGroupSize));
        LayerSkip.Engine.Model.WeightQuantization quantization;
        try { quantization = LayerSkip.Engine.Model.WeightQuantization.Parse(Quantization, QuantizationGroupSize, "LayerSkipOptions.Quantization"); }
        catch (ArgumentException e) { throw new ArgumentException(e.Message, nameof(Quantization)); }
        try { quantization.WithHead(QuantizationHead, "LayerSkipOptions.QuantizationHead"); }
        catch (ArgumentException e) { throw new ArgumentException(e.Message, nameof(QuantizationHead)); }
        var device = Device?.Trim().ToLowerInvariant();
        if (device is not ("auto" or "cpu" or "cuda") && device?.StartsWith("cuda:") != true)
            throw new ArgumentException($"LayerSkipOptions.Device must be auto, cpu, cuda or cuda:N, got '{Device}'.", nameof(Device));
    }
}
