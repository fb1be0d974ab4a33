using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Tests.Skipping;

public sealed class LayerImportanceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "layerskip-importance-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private string WriteFile(string content)
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void SaveLoad_RoundTripsScoresAndFingerprint()
    {
        double[] scores = [0.125, 0.0, 1e-17, 0.3333333333333333, 2.5];
        var original = new LayerImportance(scores, "stories260K sha256:abc \"quoted\" ünï");
        var path = Path.Combine(_dir, "nested", "calib.json");
        original.Save(path);

        var loaded = LayerImportance.Load(path);
        Assert.Equal(scores, loaded.Scores);
        Assert.Equal(original.ModelFingerprint, loaded.ModelFingerprint);
        Assert.Equal(5, loaded.LayerCount);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!)); // no temp files left behind

        // Overwrite in place.
        new LayerImportance([1.0, 2.0], "other").Save(path);
        Assert.Equal([1.0, 2.0], LayerImportance.Load(path).Scores);
    }

    [Fact]
    public void FingerprintDefaultsToEmpty()
    {
        var imp = LayerImportance.FromJson(new LayerImportance([1.0]).ToJson());
        Assert.Equal("", imp.ModelFingerprint);
    }

    [Fact]
    public void Scores_AreACopy()
    {
        double[] scores = [1, 2, 3];
        var imp = new LayerImportance(scores);
        scores[0] = 99;
        Assert.Equal(1, imp.Scores[0]);
    }

    [Fact]
    public void CreatePlan_UsesTheScores()
    {
        var imp = new LayerImportance([0.9, 0.1, 0.5, 0.3, 0.5, 0.05, 0.7, 0.2]);
        var plan = imp.CreatePlan(2);
        Assert.Equal(LayerPolicy.Calibrated, plan.Policy);
        Assert.Equal([0, 2, 6, 7], plan.KeptLayers);
    }

    [Fact]
    public void Constructor_RejectsEmptyAndNonFinite()
    {
        Assert.Contains("at least one score", Assert.Throws<ArgumentException>(() => new LayerImportance([])).Message);
        Assert.Contains("layer 1 is Infinity",
            Assert.Throws<ArgumentException>(() => new LayerImportance([0.0, double.PositiveInfinity])).Message);
        Assert.Throws<ArgumentNullException>(() => new LayerImportance(null!));
    }

    [Fact]
    public void Load_MissingFile_ThrowsFileNotFound()
    {
        var path = Path.Combine(_dir, "missing.json");
        var ex = Assert.Throws<FileNotFoundException>(() => LayerImportance.Load(path));
        Assert.Contains(path, ex.Message);
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("{ \"version\": 1, \"scores\": [0.1, ", "not valid JSON")]
    [InlineData("garbage", "not valid JSON")]
    [InlineData("[1, 2, 3]", "not valid JSON")]
    [InlineData("{ \"version\": 1, \"scores\": [0.1, \"x\"] }", "not valid JSON")]
    [InlineData("{ \"version\": 1, \"scores\": [0.1, NaN] }", "not valid JSON")]
    [InlineData("null", "empty")]
    [InlineData("{ \"scores\": [0.1] }", "format version (missing)")]
    [InlineData("{ \"version\": 2, \"scores\": [0.1] }", "format version 2")]
    [InlineData("{ \"version\": 1 }", "no 'scores'")]
    [InlineData("{ \"version\": 1, \"scores\": [] }", "no 'scores'")]
    [InlineData("{ \"version\": 1, \"layerCount\": 3, \"scores\": [0.1, 0.2] }", "declares layerCount 3 but has 2 scores")]
    [InlineData("{ \"version\": 1, \"scores\": [0.1, 1e400] }", "")]
    public void Load_CorruptFile_ThrowsInvalidData_NamingFileAndProblem(string content, string problem)
    {
        var path = WriteFile(content);
        var ex = Assert.Throws<InvalidDataException>(() => LayerImportance.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void FromJson_CorruptText_ThrowsInvalidData()
    {
        var ex = Assert.Throws<InvalidDataException>(() => LayerImportance.FromJson("{"));
        Assert.Contains("layer importance JSON", ex.Message);
    }

    [Fact]
    public void Json_HasTheDocumentedFields()
    {
        var json = new LayerImportance([0.5, 0.25], "m").ToJson();
        Assert.Contains("\"version\": 1", json);
        Assert.Contains("\"modelFingerprint\": \"m\"", json);
        Assert.Contains("\"layerCount\": 2", json);
        Assert.Contains("\"scores\"", json);
    }
}
