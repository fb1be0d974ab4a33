namespace LayerSkip.Engine.Tests.Tokenization;

/// <summary>Byte-level BPE tokenizer.json: SmolLM2 (ChatML, Digits + ByteLevel pre-tokenizer, no tokenizer_config.json).</summary>
public sealed class SmolLm2TokenizerTests(SmolLm2TokenizerFixture fixture) : IClassFixture<SmolLm2TokenizerFixture>
{
    private readonly Engine.Tokenization.TextTokenizer _tokenizer = fixture.Tokenizer;

    [Fact]
    public void Properties_come_from_the_vocabulary_and_config_json()
    {
        Assert.Equal(49152, _tokenizer.VocabSize);
        Assert.Equal(1, _tokenizer.BosTokenId); // config.json bos_token_id
        Assert.Equal(2, _tokenizer.EosTokenId);
        Assert.False(_tokenizer.AddBosByDefault); // no post-processor template
    }

    [Fact]
    public void Hand_checked_encodings_match_the_vocabulary()
    {
        var vocab = fixture.Ids!.Vocab;
        Assert.Equal([vocab["Ġhello"]], _tokenizer.Encode(" hello", addBos: false));
        Assert.Equal([vocab["Hello"], vocab["Ġworld"]], _tokenizer.Encode("Hello world", addBos: false));
        // The Digits pre-tokenizer isolates every digit, and splits the space from it.
        Assert.Equal([vocab["Ġ"], vocab["1"], vocab["2"], vocab["3"]], _tokenizer.Encode(" 123", addBos: false));
    }

    [Fact]
    public void ChatML_markers_encode_to_their_single_ids()
    {
        var added = fixture.Ids!.Added;
        var vocab = fixture.Ids.Vocab;
        var ids = _tokenizer.Encode("<|im_start|>user\nHi there!<|im_end|>", addBos: false);
        Assert.Equal(
            [added["<|im_start|>"].Id, vocab["user"], vocab["Ċ"], vocab["Hi"], vocab["Ġthere"], vocab["!"], added["<|im_end|>"].Id],
            ids);
        Assert.True(_tokenizer.IsSpecial(added["<|im_start|>"].Id));
        Assert.Equal(added["<|im_end|>"].Id, _tokenizer.TokenToId("<|im_end|>"));
        Assert.Equal("user\nHi there!", _tokenizer.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("<|im_start|>user\nHi there!<|im_end|>", _tokenizer.Decode(ids));
    }

    [Theory]
    [MemberData(nameof(TokenizerAssertions.RoundTripTexts), MemberType = typeof(TokenizerAssertions))]
    public void Round_trips_text(string text) => TokenizerAssertions.RoundTrips(_tokenizer, text);

    [Fact]
    public void Token_bytes_unmap_the_byte_level_alphabet()
    {
        var vocab = fixture.Ids!.Vocab;
        Assert.Equal(" hello"u8.ToArray(), _tokenizer.TokenBytes(vocab["Ġhello"]).ToArray());
        Assert.Equal("\n"u8.ToArray(), _tokenizer.TokenBytes(vocab["Ċ"]).ToArray());
        Assert.Equal("<|im_start|>"u8.ToArray(), _tokenizer.TokenBytes(fixture.Ids.Added["<|im_start|>"].Id).ToArray());
        for (int id = 0; id < _tokenizer.VocabSize; id++) Assert.False(_tokenizer.TokenBytes(id).IsEmpty, $"id {id} has no bytes");
    }

    [Fact]
    public void Streaming_decoder_never_emits_a_broken_character()
    {
        var ids = _tokenizer.Encode("<|im_start|>assistant\n" + TokenizerAssertions.SplitCharacterText + "<|im_end|>", addBos: false);
        Assert.Contains(ids, id => !TokenizerAssertions.IsCompleteUtf8(_tokenizer.TokenBytes(id)));
        TokenizerAssertions.StreamsWithoutBrokenCharacters(_tokenizer, ids);
        TokenizerAssertions.StreamsWithoutBrokenCharacters(_tokenizer, ids, skipSpecialTokens: true);
    }
}

/// <summary>Byte-level BPE tokenizer.json: Qwen3 (NFC, Split regex pre-tokenizer, non-special added tokens, chat tokenizer_config.json).</summary>
public sealed class Qwen3TokenizerTests(Qwen3TokenizerFixture fixture) : IClassFixture<Qwen3TokenizerFixture>
{
    private readonly Engine.Tokenization.TextTokenizer _tokenizer = fixture.Tokenizer;

    [Fact]
    public void Nfc_normalizer_composes_decomposed_accents()
    {
        // Qwen's tokenizer.json normalizes to NFC: "e" + combining acute must encode like the composed "é".
        Assert.Equal(_tokenizer.Encode("caf\u00e9", addBos: false), _tokenizer.Encode("cafe\u0301", addBos: false));
    }

    [Fact]
    public void Properties_come_from_tokenizer_config_json()
    {
        var added = fixture.Ids!.Added;
        Assert.Equal(added.Values.Max(a => a.Id) + 1, _tokenizer.VocabSize);
        Assert.Null(_tokenizer.BosTokenId); // bos_token: null
        Assert.Equal(added["<|im_end|>"].Id, _tokenizer.EosTokenId);
        Assert.False(_tokenizer.AddBosByDefault);
        Assert.Equal(_tokenizer.Encode("Hi", addBos: false), _tokenizer.Encode("Hi", addBos: true));
    }

    [Fact]
    public void Hand_checked_encodings_match_the_vocabulary()
    {
        var vocab = fixture.Ids!.Vocab;
        Assert.Equal([vocab["Ġhello"]], _tokenizer.Encode(" hello", addBos: false));
        Assert.Equal([vocab["Hello"], vocab["Ġworld"]], _tokenizer.Encode("Hello world", addBos: false));
        // Qwen's split regex takes single digits.
        Assert.Equal([vocab["1"], vocab["2"], vocab["3"]], _tokenizer.Encode("123", addBos: false));
    }

    [Fact]
    public void Chat_and_tool_tokens_encode_to_their_single_ids()
    {
        var added = fixture.Ids!.Added;
        var vocab = fixture.Ids.Vocab;
        Assert.Equal([added["<|im_start|>"].Id, vocab["user"]], _tokenizer.Encode("<|im_start|>user", addBos: false));

        var think = added["<think>"];
        Assert.False(think.Special);
        var ids = _tokenizer.Encode("<think>\nok</think><tool_call>", addBos: false);
        Assert.Equal(think.Id, ids[0]);
        Assert.Equal(added["<tool_call>"].Id, ids[^1]);
        Assert.False(_tokenizer.IsSpecial(think.Id));
        Assert.True(_tokenizer.IsSpecial(added["<|im_start|>"].Id));
        // Non-special added tokens survive skipSpecialTokens, as in Hugging Face.
        Assert.Equal("<think>\nok</think><tool_call>", _tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(TokenizerAssertions.RoundTripTexts), MemberType = typeof(TokenizerAssertions))]
    public void Round_trips_text(string text) => TokenizerAssertions.RoundTrips(_tokenizer, text);

    [Fact]
    public void Streaming_decoder_never_emits_a_broken_character()
    {
        var ids = _tokenizer.Encode("<|im_start|>assistant\n" + TokenizerAssertions.SplitCharacterText + "<|im_end|>", addBos: false);
        Assert.Contains(ids, id => !TokenizerAssertions.IsCompleteUtf8(_tokenizer.TokenBytes(id)));
        TokenizerAssertions.StreamsWithoutBrokenCharacters(_tokenizer, ids);
        TokenizerAssertions.StreamsWithoutBrokenCharacters(_tokenizer, ids, skipSpecialTokens: true);
    }
}
