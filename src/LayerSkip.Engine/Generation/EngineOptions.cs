namespace LayerSkip.Engine.Generation;

/// <summary>How to load and run a model.</summary>
public sealed record EngineOptions
{
    /// <summary>A Hugging Face model folder: config.json, *.safetensors, tokenizer files.</summary>
    public required string ModelPath { get; init; }
    /// <summary><c>auto</c> (CUDA when available, else CPU), <c>cpu</c> or <c>cuda</c> (or <c>cuda:N</c>).</summary>
    public string Device { get; init; } = "auto";
    /// <summary><c>float32</c> (the CPU default), <c>bfloat16</c> or <c>float16</c>; null picks by device.</summary>
    public string? ComputeDType { get; init; }
    /// <summary>The most sequences decoded together per layer plan.</summary>
    public int MaxBatchSize { get; init; } = 16;
    /// <summary>The longest prompt plus output; null uses the model's max_position_embeddings (capped at 8192).</summary>
    public int? MaxSequenceLength { get; init; }
    /// <summary>
    /// Token routers for the Router policy (a file written by <c>layerskip train-router</c>); null loads
    /// <c>router.safetensors</c> from the model folder when it is there.
    /// </summary>
    public string? RouterPath { get; init; }
    /// <summary>
    /// Weight-only quantization applied at load to every linear layer and the LM head: <c>none</c> (default),
    /// <c>int8</c> (one scale per output channel) or <c>int4</c> (a scale and a min per group of columns).
    /// </summary>
    public string? Quantization { get; init; }
    /// <summary>Columns per int4 group (a power of two from 32: 32, 64, 128, ...); null uses the default.</summary>
    public int? GroupSize { get; init; }
    /// <summary>
    /// The LM head's format when it should differ from <see cref="Quantization"/>: <c>int8</c> or <c>int4</c>; null
    /// keeps the layers' format. <c>int8</c> under int4 layers is the mix of llama.cpp's Q4_0 files.
    /// </summary>
    public string? HeadQuantization { get; init; }
    /// <summary>
    /// Text to calibrate the int4 fit on (null: no calibration). At load the float model runs its first few thousand
    /// tokens and records the second moments of each projection's inputs; each int4 projection is then fitted the
    /// GPTQ way, pushing every column's rounding error onto the columns not yet rounded where correlated inputs let
    /// them absorb it, which lowers the error of the projection's output on such text. Costs float forward passes over
    /// those tokens and a fit per projection at load; needs <see cref="Quantization"/> (int8 weights ignore it: they
    /// have no fit to calibrate). See docs/benchmarks.md for its effect on quality.
    /// </summary>
    public string? QuantizationCalibrationText { get; init; }
    /// <summary>
    /// Bytes of full-depth prompt KV caches kept so a chat's next turn need not prefill its history again
    /// (at most four prompts; 0 turns the cache off). See docs/configuration.md.
    /// </summary>
    public long PrefixCacheBytes { get; init; } = DefaultPrefixCacheBytes;
    public const long DefaultPrefixCacheBytes = 512L * 1024 * 1024;
    /// <summary>
    /// When the model folder records the plan it was adapted for (<c>layerskip adapt</c> writes it into config.json),
    /// requests that choose no plan of their own use it (see <see cref="InferenceEngine.CreatePlanAsync(LayerSkip.Engine.Skipping.LayerSkipRequest, LayerSkip.Engine.Skipping.LayerSkipRequest?, CancellationToken)"/>).
    /// </summary>
    public bool UseAdaptedPlan { get; init; } = true;
    /// <summary>Text the Calibrated policy ranks layers on; null uses a built-in English sample.</summary>
    public string? CalibrationText { get; init; }
    /// <summary>Told how many calibration windows have been measured, when a calibration runs (not when it is cached).</summary>
    public IProgress<LayerSkip.Engine.Progress.WorkProgress>? CalibrationProgress { get; init; }
    /// <summary>Intra-op threads for libtorch on CPU; null uses every core.</summary>
    public int? Threads { get; init; }
}
