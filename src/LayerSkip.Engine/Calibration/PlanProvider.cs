using System.Security.Cryptography;
using System.Text;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Progress;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Calibration;

/// <summary>
/// Builds layer plans for an engine. Every policy but Calibrated is a pure function of (policy, r, L);
/// Calibrated needs the model's layer importance, measured once on calibration text and then cached in memory
/// and on disk (keyed by a fingerprint of the model and the text), so it costs one forward pass per model.
/// </summary>
public sealed class PlanProvider
{
    private readonly InferenceEngine _engine;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private LayerImportance? _importance;

    public PlanProvider(InferenceEngine engine) => _engine = engine;

    /// <summary>Text ranked for Calibrated; null uses <see cref="CalibrationText.Default"/>.</summary>
    public string? CalibrationTextOverride { get; set; }

    /// <summary>Told how many calibration windows have been measured, when a calibration runs (not when it is cached).</summary>
    public IProgress<WorkProgress>? CalibrationProgress { get; set; }

    /// <summary>Folder for cached calibrations; null disables the disk cache.</summary>
    public string? CacheFolder { get; set; } = DefaultCacheFolder();

    public async Task<LayerPlan> CreateAsync(LayerPolicy policy, double speedup, int seed = 0, IReadOnlyList<int>? layers = null, CancellationToken cancellationToken = default)
    {
        var count = _engine.Config.NumLayers;
        if (policy != LayerPolicy.Calibrated) return LayerPlanner.Create(policy, speedup, count, seed, layers);
        // Validate the ratio before paying for calibration.
        LayerPlanner.KeptLayerCount(count, speedup);
        var importance = await GetImportanceAsync(cancellationToken).ConfigureAwait(false);
        return LayerPlanner.Create(policy, speedup, count, seed, layers, importance.Scores);
    }

    public async Task<LayerImportance> GetImportanceAsync(CancellationToken cancellationToken = default)
    {
        if (_importance is { } cached) return cached;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_importance is { } again) return again;
            var text = CalibrationTextOverride ?? CalibrationText.Default;
            var fingerprint = Fingerprint(text);
            var path = CacheFolder is null ? null : Path.Combine(CacheFolder, fingerprint + ".json");
            if (path is not null && File.Exists(path))
            {
                try
                {
                    var loaded = LayerImportance.Load(path);
                    if (loaded.ModelFingerprint == fingerprint && loaded.Scores.Count == _engine.Config.NumLayers)
                        return _importance = loaded;
                }
                catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException)
                {
                    // A corrupt cache entry is recomputed, not fatal.
                }
            }
            var windows = CalibrationWindows(text);
            var scores = await _engine.RunAsync(model => LayerCalibrator.Measure(model, windows, CalibrationProgress)).ConfigureAwait(false);
            var importance = new LayerImportance(scores, fingerprint);
            if (path is not null)
            {
                try
                {
                    Directory.CreateDirectory(CacheFolder!);
                    importance.Save(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Read-only home: keep the in-memory copy.
                }
            }
            return _importance = importance;
        }
        finally
        {
            _gate.Release();
        }
    }

    private List<int[]> CalibrationWindows(string text)
    {
        var window = Math.Min(_engine.MaxSequenceLength, 512);
        if (_engine.HasTokenizer)
        {
            var tokens = _engine.Tokenizer.Encode(text, addBos: false);
            return TeacherForcedScorer.Windows(tokens, window, _engine.Tokenizer.BosTokenId).ToList();
        }
        // Models built in memory have no tokenizer: rank on seeded random tokens instead.
        var rng = new Random(1234);
        var random = Enumerable.Range(0, Math.Min(window, 256)).Select(_ => rng.Next(_engine.Config.VocabSize)).ToArray();
        return [random];
    }

    private string Fingerprint(string text)
    {
        var sb = new StringBuilder();
        sb.Append(_engine.Config.ToJson().ToJsonString()).Append('|').Append(_engine.DTypeName).Append('|');
        if (_engine.ModelPath is { } folder)
        {
            sb.Append(folder).Append('|');
            foreach (var f in Directory.EnumerateFiles(folder, "*.safetensors").Order())
            {
                var link = new FileInfo(f);
                var info = link.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? link; // a cache's files are links
                sb.Append(info.Name).Append(':').Append(info.Length).Append(':').Append(info.LastWriteTimeUtc.Ticks).Append('|');
            }
        }
        else sb.Append("in-memory:").Append(_engine.GetHashCode()).Append('|');
        sb.Append(text);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..32].ToLowerInvariant();
    }

    private static string? DefaultCacheFolder()
    {
        var env = Environment.GetEnvironmentVariable("LAYERSKIP_CACHE");
        if (!string.IsNullOrEmpty(env)) return Path.Combine(env, "calibration");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, "layerskip", "calibration");
    }
}
