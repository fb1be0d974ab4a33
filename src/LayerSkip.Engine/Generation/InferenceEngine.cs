using LayerSkip.Engine.Calibration;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Engine.Training.Routing;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation;

/// <summary>
/// A loaded model ready to generate: the decoder, its tokenizer, the engine thread and the batch scheduler.
/// Thread-safe: any thread may submit requests; all tensor work happens on the engine thread, where
/// concurrent requests are decoded together in batches (one batch per layer plan).
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    private readonly EngineThread _thread;
    private readonly BatchScheduler _scheduler;
    private readonly TextTokenizer? _tokenizer;
    private int _disposed;

    public DecoderModel Model { get; }
    public ModelConfig Config => Model.Config;
    public string? ModelPath { get; }
    public int MaxSequenceLength => Model.MaxSequenceLength;
    public int MaxBatchSize { get; }
    public string DeviceName => Model.Device.ToString();
    public string DTypeName => ComputeDevice.Name(Model.DType);

    /// <summary>The tokenizer of the model folder (absent for in-memory benchmark models).</summary>
    public TextTokenizer Tokenizer => _tokenizer ?? throw new InvalidOperationException("This engine was built without a tokenizer.");
    public bool HasTokenizer => _tokenizer is not null;

    /// <summary>The model's end-of-sequence tokens (config, generation_config and tokenizer).</summary>
    public IReadOnlyCollection<int> EosTokenIds { get; }

    /// <summary>Raised on the engine thread after each decode step with the plan and the batch size.</summary>
    public event Action<LayerPlan, int>? DecodeStep;

    private InferenceEngine(Func<(DecoderModel, TextTokenizer?)> load, string? modelPath, int maxBatchSize, int? threads,
        string? routerPath = null, AdaptedPlan? adaptedPlan = null, string? calibrationText = null, IProgress<Progress.WorkProgress>? calibrationProgress = null,
        long prefixCacheBytes = EngineOptions.DefaultPrefixCacheBytes)
    {
        ModelPath = modelPath;
        MaxBatchSize = Math.Max(1, maxBatchSize);
        DecoderModel? model = null;
        TextTokenizer? tokenizer = null;
        BatchScheduler? scheduler = null;
        _thread = new EngineThread("layerskip-engine", () => scheduler?.Step() ?? false, () =>
        {
            if (threads is > 0) set_num_threads(threads.Value);
        });
        try
        {
            (model, tokenizer) = _thread.Invoke(load);
        }
        catch
        {
            _thread.Dispose();
            throw;
        }
        Model = model;
        _tokenizer = tokenizer;
        var eos = new HashSet<int>(model.Config.EosTokenIds);
        if (tokenizer?.EosTokenId is int e) eos.Add(e);
        EosTokenIds = eos;
        if (routerPath is not null)
        {
            try
            {
                Router = _thread.Invoke(() => RouterFile.LoadFor(routerPath, model.Config, model.Device));
            }
            catch
            {
                _thread.Invoke(() => { model.Dispose(); return 0; });
                _thread.Dispose();
                throw;
            }
        }
        _scheduler = new BatchScheduler(model, MaxBatchSize, tokenizer?.VocabSize ?? model.Config.VocabSize, Router, prefixCacheBytes)
        {
            StepObserver = (plan, batch) => DecodeStep?.Invoke(plan, batch),
        };
        scheduler = _scheduler;
        var calibration = new CalibrationCache(ModelIdentity(), model.Config.NumLayers, calibrationText,
            text => RunAsync(m => LayerCalibrator.Measure(m, CalibrationWindows(text), calibrationProgress)), CalibrationCache.DefaultFolder());
        _plans = new PlanSource(model.Config.NumLayers, adaptedPlan?.LayerCount == model.Config.NumLayers ? adaptedPlan.ToLayerPlan() : null, calibration.GetAsync);
    }

    private readonly PlanSource _plans;

    /// <summary>Trained token routers (the Router policy), when the model has them.</summary>
    public LayerRouterSet? Router { get; }

    /// <summary>The plan the model was fine-tuned for (config.json), used for requests that choose none; null when it has none or <see cref="EngineOptions.UseAdaptedPlan"/> is off.</summary>
    public LayerPlan? AdaptedPlan => _plans.AdaptedPlan;

    /// <summary>
    /// The layer plan of a request on this model, the one place plans are chosen: a request that chooses no plan (no
    /// ratio, policy or layers) gets the model's <see cref="AdaptedPlan"/> when it has one; otherwise the request,
    /// with <paramref name="defaults"/> filling what it leaves out (ratio 1 and Unified when neither says).
    /// The Calibrated policy measures layer importance once per model (cached on disk).
    /// </summary>
    /// <exception cref="ArgumentException">The request does not fit this model (ratio, layer indices, missing importance).</exception>
    public Task<LayerPlan> CreatePlanAsync(LayerSkipRequest request, LayerSkipRequest? defaults = null, CancellationToken cancellationToken = default) =>
        _plans.CreateAsync(request, defaults, cancellationToken);

    /// <summary>The plan for a policy and target speedup (shorthand for a request that sets them).</summary>
    public Task<LayerPlan> CreatePlanAsync(LayerPolicy policy, double speedup, int seed = 0, IReadOnlyList<int>? layers = null, CancellationToken cancellationToken = default) =>
        _plans.CreateAsync(new LayerSkipRequest { Policy = policy, SpeedupRatio = speedup, Seed = seed, Layers = layers }, null, cancellationToken);

    /// <summary>Loads a Hugging Face model folder (config, weights, tokenizer) onto the chosen device.</summary>
    /// <exception cref="ModelLoadException">The folder is unusable; the message names the file and the problem.</exception>
    /// <exception cref="ArgumentOutOfRangeException">MaxSequenceLength is below 2 or beyond the model's context.</exception>
    public static InferenceEngine Load(EngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.ModelPath)) throw new ArgumentException("ModelPath is required.", nameof(options));
        var quantization = WeightQuantization.Parse(options.Quantization, options.GroupSize, nameof(options.Quantization))
            .WithHead(options.HeadQuantization, nameof(options.HeadQuantization));
        if (options.QuantizationCalibrationText is not null && quantization.Format == WeightFormat.None)
            throw new ArgumentException($"Option '{nameof(options.QuantizationCalibrationText)}' calibrates quantization: set {nameof(options.Quantization)} to int4 (or int8) too.", nameof(options));
        var folder = ModelFolder.Resolve(options.ModelPath);
        return new InferenceEngine(() =>
        {
            var device = ComputeDevice.Resolve(options.Device);
            var dtype = ComputeDevice.ResolveDType(options.ComputeDType, device);
            var config = ModelConfig.Load(folder);
            var maxLen = config.SequenceLengthFor(options.MaxSequenceLength);
            var tokenizer = LoadTokenizer(folder);
            var calibration = options.QuantizationCalibrationText is { } text
                ? QuantizationCalibration.Windows(tokenizer, text, maxLen, nameof(options.QuantizationCalibrationText))
                : null;
            var model = DecoderModel.Load(folder, dtype, device, maxLen, quantization, calibration);
            return (model, (TextTokenizer?)tokenizer);
        }, folder, options.MaxBatchSize, options.Threads, RouterFile.Locate(options.RouterPath, folder),
            options.UseAdaptedPlan && Loading.AdaptedPlan.TryRead(folder, out var adapted) ? adapted : null, options.CalibrationText, options.CalibrationProgress,
            options.PrefixCacheBytes);
    }

    /// <summary>The tokenizer, its failures reported as the model folder's: a <see cref="ModelLoadException"/> naming the file.</summary>
    private static TextTokenizer LoadTokenizer(string folder)
    {
        try
        {
            return TextTokenizer.Load(folder);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or InvalidOperationException
                                      or KeyNotFoundException or ArgumentException or OverflowException or System.Text.Json.JsonException)
        {
            var file = e is FileNotFoundException { FileName: { } missing } ? missing
                : new[] { "tokenizer_config.json", "tokenizer.json", "tokenizer.model", "config.json" }
                    .Select(n => Path.Combine(folder, n)).FirstOrDefault(p => e.Message.Contains(p, StringComparison.Ordinal) || e.Message.Contains(Path.GetFileName(p), StringComparison.Ordinal))
                  ?? Path.Combine(folder, File.Exists(Path.Combine(folder, "tokenizer.json")) ? "tokenizer.json" : "tokenizer.model");
            throw new ModelLoadException($"The tokenizer cannot be loaded: {e.Message}", file, e);
        }
    }

    /// <summary>Wraps a model built in memory (benchmarks, tests); the engine takes ownership of it.</summary>
    public static InferenceEngine FromModel(Func<DecoderModel> build, TextTokenizer? tokenizer = null, int maxBatchSize = 16, int? threads = null,
        long prefixCacheBytes = EngineOptions.DefaultPrefixCacheBytes) =>
        new(() => (build(), tokenizer), null, maxBatchSize, threads, prefixCacheBytes: prefixCacheBytes);

    /// <summary>
    /// Bytes of key/value cache the engine holds now: the decode groups' caches (only the layers their plans run)
    /// plus the prefix cache's full-depth prompt caches (with each cached prompt's last logits, one row of the vocabulary).
    /// Updated after each scheduling round; read from any thread.
    /// </summary>
    public long KvCacheBytes => _scheduler.KvBytes;

    /// <summary>The most KV cache bytes the engine has held after any scheduling round since it was loaded.</summary>
    public long PeakKvCacheBytes => _scheduler.PeakKvBytes;

    /// <summary>Requests waiting or decoding.</summary>
    public int PendingRequests => _scheduler.Pending;
    public int QueuedRequests => _scheduler.Waiting;

    /// <summary>Queues a request; tokens stream out of the result as they are decoded.</summary>
    public GenerationStream Submit(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        Validate(request);
        // Drafts copied from the context run no layers: every step of such a sequence is a full-depth pass.
        var plan = request.Speculative?.Drafts == DraftSource.Lookup ? LayerPlan.Full(Config.NumLayers) : request.Plan ?? LayerPlan.Full(Config.NumLayers);
        var room = MaxSequenceLength - request.PromptTokens.Count;
        var seq = new SequenceState(request, plan, request.StopTokenIds ?? EosTokenIds, Math.Min(request.MaxNewTokens, room), cancellationToken);
        _scheduler.Enqueue(seq);
        _thread.Wake();
        return new GenerationStream(seq.Tokens, seq.Completion);
    }

    /// <summary>Generates to the end and returns all tokens.</summary>
    public async Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        var stream = Submit(request, cancellationToken);
        var tokens = new List<int>();
        await foreach (var t in stream.ReadAllAsync(CancellationToken.None).ConfigureAwait(false)) tokens.Add(t);
        return new GenerationResult(tokens, await stream.Completion.ConfigureAwait(false));
    }

    /// <summary>Runs work that needs the model (scoring, calibration) on the engine thread, between decode steps.</summary>
    public Task<T> RunAsync<T>(Func<DecoderModel, T> work)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _thread.InvokeAsync(() =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return work(Model);
        });
    }

    /// <summary>Prompt windows the Calibrated policy measures; models built in memory (no tokenizer) use seeded random tokens.</summary>
    private List<int[]> CalibrationWindows(string text)
    {
        var window = Math.Min(MaxSequenceLength, 512);
        if (_tokenizer is { } tokenizer)
            return TeacherForcedScorer.Windows(tokenizer.Encode(text, addBos: false), window, tokenizer.BosTokenId).ToList();
        var rng = new Random(1234);
        return [Enumerable.Range(0, Math.Min(window, 256)).Select(_ => rng.Next(Config.VocabSize)).ToArray()];
    }

    /// <summary>What calibration results are keyed by: the architecture, the dtype and the weight files (or this instance).</summary>
    private string ModelIdentity()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(Config.ToJson().ToJsonString()).Append('|').Append(DTypeName).Append('|');
        if (ModelPath is { } folder)
        {
            sb.Append(folder).Append('|');
            foreach (var f in Directory.EnumerateFiles(folder, "*.safetensors").Order())
            {
                var link = new FileInfo(f);
                var info = link.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? link; // a cache's files are links
                sb.Append(info.Name).Append(':').Append(info.Length).Append(':').Append(info.LastWriteTimeUtc.Ticks).Append('|');
            }
        }
        else sb.Append("in-memory:").Append(GetHashCode()).Append('|');
        return sb.ToString();
    }

    /// <summary>
    /// The one check of a request against this engine (prompt length and vocabulary, plan, sampling, speculative
    /// limits); <see cref="Submit"/> runs it. Problems with speculative decoding have the parameter name
    /// <c>Speculative</c>, so a caller can point at the setting that asked for it.
    /// </summary>
    /// <exception cref="ArgumentException">The first problem found, in words.</exception>
    public void Validate(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.PromptTokens.Count == 0) throw new ArgumentException("The prompt has no tokens.", nameof(request));
        if (request.PromptTokens.Count >= MaxSequenceLength)
            throw new ArgumentException(
                $"The prompt has {request.PromptTokens.Count} tokens, which leaves no room below the maximum sequence length of {MaxSequenceLength}.",
                nameof(request));
        if (request.MaxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(request), request.MaxNewTokens, "MaxNewTokens must be at least 1.");
        var vocab = Config.VocabSize;
        foreach (var t in request.PromptTokens)
            if ((uint)t >= (uint)vocab) throw new ArgumentException($"Prompt token id {t} is outside the vocabulary of {vocab}.", nameof(request));
        if (request.Plan is { } plan && plan.LayerCount != Config.NumLayers)
            throw new ArgumentException($"The layer plan is for {plan.LayerCount} layers but the model has {Config.NumLayers}.", nameof(request));
        if (request.Plan?.Policy == LayerPolicy.Router && Router is null)
            throw new ArgumentException("The router policy needs trained routers: put router.safetensors (from 'layerskip train-router') in the model folder or set EngineOptions.RouterPath.", nameof(request));
        if (request.Plan?.Policy == LayerPolicy.Router && request.Speculative is not null)
            throw new ArgumentException("Speculative decoding drafts with a layer plan, not with routers.", nameof(request.Speculative));
        request.Sampling.Validate();
        if (request.Speculative is { } spec)
        {
            if (spec.MaxDraftTokens < 1) throw new ArgumentOutOfRangeException(nameof(request.Speculative), spec.MaxDraftTokens, "MaxDraftTokens must be at least 1.");
            if (request.LogitsProcessor is not null)
                throw new ArgumentException("Speculative decoding cannot be combined with a logits processor (JSON output, forced tool calls).", nameof(request.Speculative));
            if (request.Sampling.FrequencyPenalty != 0 || request.Sampling.PresencePenalty != 0)
                throw new ArgumentException("Speculative decoding does not support frequency or presence penalties.", nameof(request.Speculative));
            if (spec.Drafts == DraftSource.Lookup && spec.DraftPrecision != WeightFormat.None)
                throw new ArgumentException($"Drafts copied from the context (Lookup) run no model, so they take no draft precision ({spec.DraftPrecision}).", nameof(request.Speculative));
            if (spec.DraftPrecision != WeightFormat.None && Model.Device.type != TorchSharp.DeviceType.CPU)
                throw new ArgumentException($"An {spec.DraftPrecision} draft runs on the CPU kernels; this model is on {Model.Device}.", nameof(request.Speculative));
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            _thread.Invoke(() =>
            {
                _scheduler.Dispose();
                Router?.Dispose();
                Model.Dispose();
                return 0;
            });
        }
        finally
        {
            _thread.Dispose();
        }
    }
}
