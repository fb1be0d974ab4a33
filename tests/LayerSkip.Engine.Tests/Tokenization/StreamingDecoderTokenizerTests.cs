using LayerSkip.Engine.Tokenization;

namespace LayerSkip.Engine.Tests.Tokenization;

/// <summary>The UTF-8 boundary rule behind <see cref="StreamingDecoder"/>, and byte-by-byte streaming on a real tokenizer.</summary>
public sealed class StreamingDecoderTokenizerTests(Stories260KTokenizerFixture fixture) : IClassFixture<Stories260KTokenizerFixture>
{
    [Theory]
    [InlineData(new byte[] { }, 0)]
    [InlineData(new byte[] { 0x41 }, 1)]
    [InlineData(new byte[] { 0x41, 0xF0 }, 1)]              // lead of a 4-byte character
    [InlineData(new byte[] { 0x41, 0xF0, 0x9F, 0x98 }, 1)]  // three of four bytes
    [InlineData(new byte[] { 0xF0, 0x9F, 0x98, 0x80 }, 4)]  // complete 😀
    [InlineData(new byte[] { 0xE9, 0xBE }, 0)]              // two of three bytes of 龘
    [InlineData(new byte[] { 0xC3, 0xA9 }, 2)]              // é
    [InlineData(new byte[] { 0x80, 0x80 }, 2)]              // stray continuation bytes cannot complete: emitted
    [InlineData(new byte[] { 0xFF }, 1)]                    // invalid byte: emitted
    public void Complete_prefix_excludes_only_an_unfinished_trailing_character(byte[] bytes, int expected) =>
        Assert.Equal(expected, StreamingDecoder.CompletePrefixLength(bytes));

    [Fact]
    public void Byte_pieces_of_an_emoji_produce_text_only_when_the_character_is_complete()
    {
        var tokenizer = fixture.Tokenizer;
        var vocab = fixture.Ids!.Vocab;
        var decoder = tokenizer.CreateStreamingDecoder();
        Assert.Equal("Once", decoder.Append(vocab["▁Once"])); // dummy-prefix space dropped at the start
        Assert.Equal(" ", decoder.Append(vocab["▁"]));
        Assert.Equal("", decoder.Append(vocab["<0xF0>"]));
        Assert.Equal("", decoder.Append(vocab["<0x9F>"]));
        Assert.Equal("", decoder.Append(vocab["<0x98>"]));
        Assert.Equal("😀", decoder.Append(vocab["<0x80>"]));
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void Flush_returns_an_unfinished_character_as_the_full_decode_does()
    {
        var tokenizer = fixture.Tokenizer;
        var vocab = fixture.Ids!.Vocab;
        int[] ids = [vocab["▁Once"], vocab["<0xF0>"], vocab["<0x9F>"]];
        var decoder = tokenizer.CreateStreamingDecoder();
        var text = string.Concat(ids.Select(decoder.Append)) + decoder.Flush();
        Assert.Equal(tokenizer.Decode(ids), text);
        Assert.StartsWith("Once", text);
    }

    [Fact]
    public void Skipping_special_tokens_drops_bos_and_eos()
    {
        var tokenizer = fixture.Tokenizer;
        var ids = tokenizer.Encode("Once upon a time</s>", addBos: true);
        var decoder = tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
        var text = string.Concat(ids.Select(decoder.Append)) + decoder.Flush();
        Assert.Equal("Once upon a time", text);
    }
}
