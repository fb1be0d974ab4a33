using System.Text;

namespace LayerSkip.Engine.Tests.Tokenization;

/// <summary>SentencePiece-style BPE with byte fallback from tokenizer.json (llama2.c stories260K).</summary>
public sealed class Stories260KTokenizerTests(Stories260KTokenizerFixture fixture) : IClassFixture<Stories260KTokenizerFixture>
{
    private readonly Engine.Tokenization.TextTokenizer _tokenizer = fixture.Tokenizer;

    [Fact]
    public void Encodes_once_upon_a_time_like_llama2c()
    {
        // llama2.c's own encoder gives these ids for "Once upon a time" with BOS.
        Assert.Equal([1, 403, 407, 261, 378], _tokenizer.Encode("Once upon a time", addBos: true));
        Assert.Equal([403, 407, 261, 378], _tokenizer.Encode("Once upon a time", addBos: false));
    }

    [Fact]
    public void Reads_bos_eos_and_vocabulary_size_from_the_folder()
    {
        Assert.Equal(1, _tokenizer.BosTokenId);
        Assert.Equal(2, _tokenizer.EosTokenId);
        Assert.True(_tokenizer.AddBosByDefault);
        Assert.Equal(512, _tokenizer.VocabSize);
        Assert.True(_tokenizer.IsSpecial(1));
        Assert.True(_tokenizer.IsSpecial(2));
        Assert.False(_tokenizer.IsSpecial(403));
    }

    [Fact]
    public void Decodes_with_and_without_special_tokens_like_the_hugging_face_decoder()
    {
        int[] ids = [1, 403, 407, 261, 378];
        Assert.Equal("Once upon a time", _tokenizer.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("<s> Once upon a time", _tokenizer.Decode(ids));
    }

    [Fact]
    public void Characters_outside_the_vocabulary_fall_back_to_byte_tokens()
    {
        var vocab = fixture.Ids!.Vocab;
        // 😀 is F0 9F 98 80 in UTF-8; the vocabulary has no piece for it, only the <0xNN> byte pieces.
        Assert.False(vocab.ContainsKey("😀"));
        int[] emojiBytes = [vocab["<0xF0>"], vocab["<0x9F>"], vocab["<0x98>"], vocab["<0x80>"]];
        var ids = _tokenizer.Encode("😀", addBos: false);
        Assert.Equal([vocab["▁"], .. emojiBytes], ids);

        // CJK likewise: 龘 = E9 BE 98.
        var cjk = _tokenizer.Encode("a 龘", addBos: false);
        Assert.EndsWith(string.Join(",", new[] { vocab["<0xE9>"], vocab["<0xBE>"], vocab["<0x98>"] }), string.Join(",", cjk));
    }

    [Theory]
    [MemberData(nameof(TokenizerAssertions.RoundTripTexts), MemberType = typeof(TokenizerAssertions))]
    public void Round_trips_text(string text) => TokenizerAssertions.RoundTrips(_tokenizer, text);

    [Fact]
    public void Token_bytes_map_spaces_and_byte_pieces()
    {
        var vocab = fixture.Ids!.Vocab;
        Assert.Equal(" Lily"u8.ToArray(), _tokenizer.TokenBytes(vocab["▁Lily"]).ToArray());
        Assert.Equal(new byte[] { 0xF0 }, _tokenizer.TokenBytes(vocab["<0xF0>"]).ToArray());
        Assert.Equal(new byte[] { 0x0A }, _tokenizer.TokenBytes(vocab["<0x0A>"]).ToArray());
        Assert.Equal("<s>"u8.ToArray(), _tokenizer.TokenBytes(1).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => _tokenizer.TokenBytes(512));
    }

    [Fact]
    public void Token_to_id_finds_added_tokens_and_vocabulary_entries()
    {
        Assert.Equal(1, _tokenizer.TokenToId("<s>"));
        Assert.Equal(fixture.Ids!.Vocab["▁Lily"], _tokenizer.TokenToId("▁Lily"));
        Assert.Null(_tokenizer.TokenToId("not-a-token"));
    }

    [Fact]
    public void Special_tokens_in_text_encode_to_their_ids()
    {
        var ids = _tokenizer.Encode("Hi</s>", addBos: false);
        Assert.Equal(2, ids[^1]);
        Assert.DoesNotContain(fixture.Ids!.Vocab["<0x3C>"], ids); // no '<' byte piece
    }

    [Fact]
    public void Streaming_decoder_holds_back_partial_characters()
    {
        var ids = _tokenizer.Encode(TokenizerAssertions.SplitCharacterText, addBos: true);
        Assert.Contains(ids, id => !TokenizerAssertions.IsCompleteUtf8(_tokenizer.TokenBytes(id)));
        TokenizerAssertions.StreamsWithoutBrokenCharacters(_tokenizer, ids);
        TokenizerAssertions.StreamsWithoutBrokenCharacters(_tokenizer, ids, skipSpecialTokens: true);
    }

    [Fact]
    public void Encodes_a_long_story_without_losing_text()
    {
        var story = File.ReadAllText(LayerSkip.Tests.SharedData.Path("data", "tinystories_dev.txt"));
        story = story[..Math.Min(story.Length, 20_000)];
        var ids = _tokenizer.Encode(story, addBos: false);
        Assert.True(ids.Count < story.Length / 2, $"{ids.Count} tokens for {story.Length} chars: merges not applied?");
        Assert.Equal(story, _tokenizer.Decode(ids));
        Assert.Equal(Encoding.UTF8.GetBytes(story).Length + 1, ids.Sum(id => _tokenizer.TokenBytes(id).Length)); // +1: dummy-prefix space
    }
}
