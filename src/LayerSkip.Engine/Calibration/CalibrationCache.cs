using System.Security.Cryptography;
using System.Text;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Calibration;

/// <summary>
/// The layer importance the Calibrated policy ranks by: measured once on calibration text, then cached in memory and
/// on disk, keyed by a fingerprint of the model and the text, so it costs one forward pass per model. It knows the
/// model only through what it is given: an identity string and a function that measures the text.
/// </summary>
internal sealed class CalibrationCache(string modelIdentity, int layerCount, string? text, Func<string, Task<double[]>> measure, string? cacheFolder)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly string _text = text ?? CalibrationText.Default;
    private LayerImportance? _importance;

    public async Task<LayerImportance> GetAsync(CancellationToken cancellationToken = default)
    {
        if (_importance is { } cached) return cached;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _importance ??= await LoadOrMeasureAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<LayerImportance> LoadOrMeasureAsync()
    {
        var fingerprint = Fingerprint();
        var path = cacheFolder is null ? null : Path.Combine(cacheFolder, fingerprint + ".json");
        if (path is not null && File.Exists(path))
        {
            try
            {
                var loaded = LayerImportance.Load(path);
                if (loaded.ModelFingerprint == fingerprint && loaded.Scores.Count == layerCount) return loaded;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException)
            {
                // A corrupt cache entry is recomputed, not fatal.
            }
        }
        var importance = new LayerImportance(await measure(_text).ConfigureAwait(false), fingerprint);
        if (path is null) return importance;
        try
        {
            Directory.CreateDirectory(cacheFolder!);
            importance.Save(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Read-only home: keep the in-memory copy.
        }
        return importance;
    }

    private string Fingerprint() =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(modelIdentity + "|" + _text)))[..32].ToLowerInvariant();

    /// <summary>$LAYERSKIP_CACHE/calibration, else the user's local application data; null when neither exists.</summary>
    public static string? DefaultFolder()
    {
        var env = Environment.GetEnvironmentVariable("LAYERSKIP_CACHE");
        if (!string.IsNullOrEmpty(env)) return Path.Combine(env, "calibration");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, "layerskip", "calibration");
    }
}
