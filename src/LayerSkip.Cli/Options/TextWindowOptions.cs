using System.CommandLine;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;

namespace LayerSkip.Cli.Options;

/// <summary>How a text file is cut into scored windows: --max-tokens, --window, --context-tokens.</summary>
internal sealed class TextWindowOptions
{
    public Option<int?> MaxTokens { get; } = Opt.Maybe<int>("--max-tokens", "Score only the first N tokens of the file.");
    public Option<int?> Window { get; } = Opt.Maybe<int>("--window", "Window length in tokens, BOS included (default: the model's context).");
    public Option<int> ContextTokens { get; } = Opt.Value("--context-tokens", "Positions at the start of each window run at full depth (the prompt) and are not compared.", 16);

    public TextWindowOptions(Command command) => command.AddAll(MaxTokens, Window, ContextTokens);

    /// <summary>Tokenizes the text and cuts it into windows of the model's context, each opened by BOS.</summary>
    public List<int[]> Build(ParseResult parse, InferenceEngine engine, string text)
    {
        var tokens = engine.Tokenizer.Encode(text, addBos: false);
        if (parse.GetValue(MaxTokens) is int max && tokens.Count > max) tokens = tokens.Take(max).ToList();
        var length = Math.Min(parse.GetValue(Window) ?? engine.Config.MaxPositionEmbeddings, engine.MaxSequenceLength);
        var windows = TeacherForcedScorer.Windows(tokens, length, engine.Tokenizer.BosTokenId).ToList();
        if (windows.Count == 0) throw new CliException("The file has too little text to score.");
        return windows;
    }
}
