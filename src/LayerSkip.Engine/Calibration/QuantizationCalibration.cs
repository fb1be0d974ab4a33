using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Tokenization;

namespace LayerSkip.Engine.Calibration;

/// <summary>
/// The token windows a model runs at load to measure its projections' inputs before they are quantized (see
/// <see cref="Model.DecoderModel.Load"/>): the text tokenized by the model's tokenizer, cut into BOS-led windows, and
/// capped at <see cref="MaxTokens"/>, because the fit gains little from more tokens while the float forward passes
/// over them are paid at every load.
/// </summary>
public static class QuantizationCalibration
{
    /// <summary>At most this many tokens of the text are used (the first ones).</summary>
    public const int MaxTokens = 4096;

    /// <summary>The longest window (shorter when the model's context is).</summary>
    public const int MaxWindow = 512;

    /// <summary>
    /// <paramref name="text"/> as windows for a model of context <paramref name="maxSequenceLength"/>;
    /// <paramref name="optionName"/> names the option in errors.
    /// </summary>
    /// <exception cref="ArgumentException">The text is empty, or too short to make one window of two tokens.</exception>
    public static IReadOnlyList<int[]> Windows(TextTokenizer tokenizer, string? text, int maxSequenceLength, string optionName = "QuantizationCalibrationText")
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (string.IsNullOrWhiteSpace(text))
            throw new ArgumentException($"Option '{optionName}' is empty: give text like what the model will see, a few thousand tokens.", optionName);
        var ids = tokenizer.Encode(text, addBos: false);
        var windows = TeacherForcedScorer.Windows(ids.Take(MaxTokens).ToList(), Math.Min(maxSequenceLength, MaxWindow), tokenizer.BosTokenId).ToList();
        if (windows.Count == 0) throw new ArgumentException($"Option '{optionName}' has too little text to calibrate on ({ids.Count} tokens).", optionName);
        return windows;
    }
}
