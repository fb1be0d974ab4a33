using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;

namespace LayerSkip.Cli.Commands;

/// <summary>Tokenizes a text file and cuts it into windows of the model's context, each opened by BOS.</summary>
internal static class TextWindows
{
    public static List<int[]> Build(InferenceEngine engine, string text, int? window, int? maxTokens)
    {
        var tokens = engine.Tokenizer.Encode(text, addBos: false);
        if (maxTokens is int max && tokens.Count > max) tokens = tokens.Take(max).ToList();
        var length = Math.Min(window ?? engine.Config.MaxPositionEmbeddings, engine.MaxSequenceLength);
        var windows = TeacherForcedScorer.Windows(tokens, length, engine.Tokenizer.BosTokenId).ToList();
        if (windows.Count == 0) throw new CliException("The file has too little text to score.");
        return windows;
    }
}
