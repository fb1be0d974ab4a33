using Microsoft.ML.Tokenizers;

namespace LayerSkip.Engine.Tokenization;

/// <summary>Reads a SentencePiece tokenizer.model (LLaMA-2 and relatives) through Microsoft.ML.Tokenizers.</summary>
internal static class SentencePieceModelReader
{
    public static TokenizerModel Read(string path)
    {
        SentencePieceTokenizer tokenizer;
        using var stream = File.OpenRead(path);
        try
        {
            tokenizer = SentencePieceTokenizer.Create(stream, false, false);
        }
        catch (Exception ex) // protobuf parse errors (an IOException subtype) and unsupported model kinds alike
        {
            throw new InvalidDataException($"{path}: not a readable SentencePiece model ({ex.Message}).", ex);
        }

        var added = new List<AddedToken>();
        void AddSpecial(string? token, int id)
        {
            if (!string.IsNullOrEmpty(token) && id >= 0 && added.All(a => a.Id != id)) added.Add(new AddedToken(id, token, Special: true));
        }
        AddSpecial(tokenizer.UnknownToken, tokenizer.UnknownId);
        AddSpecial(tokenizer.BeginningOfSentenceToken, tokenizer.BeginningOfSentenceId);
        AddSpecial(tokenizer.EndOfSentenceToken, tokenizer.EndOfSentenceId);

        return new TokenizerModel(
            tokenizer,
            TokenTextStyle.SentencePiece,
            tokenizer.Vocabulary,
            added,
            text => tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false),
            tokenizer.BeginningOfSentenceToken,
            tokenizer.EndOfSentenceToken,
            DefaultAddBos: true);
    }
}
