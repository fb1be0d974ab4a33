namespace LayerSkip.Engine.Loading;

/// <summary>The <c>rope_scaling</c> block of config.json. Only the <c>llama3</c> type changes frequencies.</summary>
public sealed record RopeScaling(
    string Type,
    double Factor,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalMaxPositionEmbeddings = 8192);
