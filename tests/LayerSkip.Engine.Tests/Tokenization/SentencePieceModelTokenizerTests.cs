namespace LayerSkip.Engine.Tests.Tokenization;

/// <summary>LLaMA-2 tokenizer.model through Microsoft.ML.Tokenizers' SentencePiece tokenizer.</summary>
public sealed class SentencePieceModelTokenizerTests(Llama2TokenizerFixture fixture) : IClassFixture<Llama2TokenizerFixture>
{
    private readonly Engine.Tokenization.TextTokenizer _tokenizer = fixture.Tokenizer;

    [Fact]
    public void Properties_follow_the_llama2_model()
    {
        Assert.Equal(32000, _tokenizer.VocabSize);
        Assert.Equal(1, _tokenizer.BosTokenId);
        Assert.Equal(2, _tokenizer.EosTokenId);
        Assert.True(_tokenizer.AddBosByDefault);
        Assert.True(_tokenizer.IsSpecial(1));
    }

    [Fact]
    public void Matches_published_llama2_encodings()
    {
        // Published LLaMA-2 ids: "Hello world" → <s> ▁Hello ▁world; an emoji becomes ▁ + its four byte pieces (id = 3 + byte).
        Assert.Equal([1, 15043, 3186], _tokenizer.Encode("Hello world", addBos: true));
        Assert.Equal([1, 29871, 243, 162, 155, 131], _tokenizer.Encode("😀", addBos: true));
        Assert.Equal(13, _tokenizer.TokenToId("<0x0A>"));
        Assert.Equal("\n"u8.ToArray(), _tokenizer.TokenBytes(13).ToArray());
        Assert.Equal(" Hello"u8.ToArray(), _tokenizer.TokenBytes(15043).ToArray());
    }

    [Theory]
    [MemberData(nameof(TokenizerAssertions.RoundTripTexts), MemberType = typeof(TokenizerAssertions))]
    public void Round_trips_text(string text) => TokenizerAssertions.RoundTrips(_tokenizer, text);

    [Fact]
    public void Streaming_decoder_never_emits_a_broken_character()
    {
        var ids = _tokenizer.Encode(TokenizerAssertions.SplitCharacterText, addBos: true);
        Assert.Contains(ids, id => !TokenizerAssertions.IsCompleteUtf8(_tokenizer.TokenBytes(id)));
        TokenizerAssertions.StreamsWithoutBrokenCharacters(_tokenizer, ids);
        TokenizerAssertions.StreamsWithoutBrokenCharacters(_tokenizer, ids, skipSpecialTokens: true);
    }
}
