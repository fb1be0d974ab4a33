using Microsoft.ML.Tokenizers;

namespace LayerSkip.Engine.Tokenization;

/// <summary>What a tokenizer file reader produces; <see cref="TextTokenizer"/> adds configuration and added-token handling on top.</summary>
internal sealed record TokenizerModel(
    Tokenizer Inner,
    TokenTextStyle Style,
    IReadOnlyDictionary<string, int> Vocabulary,
    IReadOnlyList<AddedToken> AddedTokens,
    Func<string, IReadOnlyList<int>> EncodePlainText,
    string? DefaultBosToken,
    string? DefaultEosToken,
    bool DefaultAddBos);
