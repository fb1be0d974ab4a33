using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LayerSkip.Engine.Skipping;

/// <summary>
/// Per-layer importance scores for <see cref="LayerPolicy.Calibrated"/> plans (higher = the layer changes the hidden
/// state more, e.g. 1 − cosine(input, output) averaged over calibration tokens), with a free-text model fingerprint so
/// the engine can cache one calibration per model as JSON.
/// </summary>
public sealed class LayerImportance
{
    /// <summary>Version of the JSON layout written by <see cref="Save"/>.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private readonly double[] _scores;

    /// <summary>Creates a set of scores, one per layer.</summary>
    /// <exception cref="ArgumentException">No scores, or a score that is NaN or infinite.</exception>
    public LayerImportance(IEnumerable<double> scores, string? modelFingerprint = null)
    {
        ArgumentNullException.ThrowIfNull(scores);
        _scores = scores.ToArray();
        if (_scores.Length == 0)
            throw new ArgumentException("Layer importance needs at least one score.", nameof(scores));
        for (var i = 0; i < _scores.Length; i++)
            if (!double.IsFinite(_scores[i]))
                throw new ArgumentException(
                    $"Importance score for layer {i} is {_scores[i].ToString(CultureInfo.InvariantCulture)}; scores must be finite.",
                    nameof(scores));
        Scores = Array.AsReadOnly(_scores);
        ModelFingerprint = modelFingerprint ?? "";
    }

    /// <summary>One score per layer, indexed by layer.</summary>
    public IReadOnlyList<double> Scores { get; }

    /// <summary>Number of layers scored.</summary>
    public int LayerCount => _scores.Length;

    /// <summary>Free text identifying the model the scores were measured on (set by the engine; may be empty).</summary>
    public string ModelFingerprint { get; }

    /// <summary>Creates a calibrated plan from these scores (shorthand for <see cref="LayerPlanner.Create"/>).</summary>
    public LayerPlan CreatePlan(double speedup) =>
        LayerPlanner.Create(LayerPolicy.Calibrated, speedup, LayerCount, layerImportance: Scores);

    /// <summary>Serialises to the JSON layout used by <see cref="Save"/>.</summary>
    public string ToJson() => JsonSerializer.Serialize(
        new Dto { Version = FormatVersion, ModelFingerprint = ModelFingerprint, LayerCount = LayerCount, Scores = _scores },
        JsonOptions);

    /// <summary>Parses the JSON layout written by <see cref="ToJson"/>.</summary>
    /// <exception cref="InvalidDataException">Malformed JSON, unsupported version, or missing/inconsistent/non-finite scores.</exception>
    public static LayerImportance FromJson(string json) => FromJson(json, source: "layer importance JSON");

    /// <summary>Writes the scores as JSON to <paramref name="path"/> (via a temporary file, so a crash never leaves a half-written cache).</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var temp = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            File.WriteAllText(temp, ToJson());
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Reads scores written by <see cref="Save"/>.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is corrupt or not a layer importance file; the message names the file.</exception>
    public static LayerImportance Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Layer importance file '{path}' does not exist.", path);
        return FromJson(File.ReadAllText(path), source: $"layer importance file '{path}'");
    }

    private static LayerImportance FromJson(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        Dto? dto;
        try
        {
            dto = JsonSerializer.Deserialize<Dto>(json, JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"The {source} is not valid JSON: {ex.Message}", ex);
        }

        if (dto is null)
            throw new InvalidDataException($"The {source} is empty (JSON null).");
        if (dto.Version != FormatVersion)
            throw new InvalidDataException(
                $"The {source} has format version {dto.Version?.ToString(CultureInfo.InvariantCulture) ?? "(missing)"}; expected {FormatVersion}.");
        if (dto.Scores is null || dto.Scores.Length == 0)
            throw new InvalidDataException($"The {source} has no 'scores'.");
        if (dto.LayerCount is { } declared && declared != dto.Scores.Length)
            throw new InvalidDataException(
                $"The {source} declares layerCount {declared} but has {dto.Scores.Length} scores.");

        try
        {
            return new LayerImportance(dto.Scores, dto.ModelFingerprint);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"The {source} is invalid: {ex.Message}", ex);
        }
    }

    private sealed class Dto
    {
        [JsonPropertyName("version")] public int? Version { get; set; }
        [JsonPropertyName("modelFingerprint")] public string? ModelFingerprint { get; set; }
        [JsonPropertyName("layerCount")] public int? LayerCount { get; set; }
        [JsonPropertyName("scores")] public double[]? Scores { get; set; }
    }
}
