using System.Text.Json;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Tests;

namespace LayerSkip.Engine.Tests.Tokenization;

/// <summary>Ids read straight from a tokenizer.json with System.Text.Json: the independent reference for expected ids.</summary>
public sealed class TokenizerJsonIds
{
    public TokenizerJsonIds(string tokenizerJsonPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJsonPath));
        foreach (var entry in doc.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject())
            Vocab[entry.Name] = entry.Value.GetInt32();
        foreach (var added in doc.RootElement.GetProperty("added_tokens").EnumerateArray())
            Added[added.GetProperty("content").GetString()!] = (added.GetProperty("id").GetInt32(), added.GetProperty("special").GetBoolean());
    }

    public Dictionary<string, int> Vocab { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, (int Id, bool Special)> Added { get; } = new(StringComparer.Ordinal);
}

/// <summary>Each fixture loads its (large) vocabulary once per test class.</summary>
public abstract class TokenizerFixture
{
    protected TokenizerFixture(string folder)
    {
        Folder = folder;
        Tokenizer = TextTokenizer.Load(folder);
        var json = Path.Combine(folder, "tokenizer.json");
        Ids = File.Exists(json) ? new TokenizerJsonIds(json) : null;
    }

    public string Folder { get; }

    public TextTokenizer Tokenizer { get; }

    public TokenizerJsonIds? Ids { get; }
}

public sealed class SmolLm2TokenizerFixture() : TokenizerFixture(SharedData.Path("fixtures", "tokenizers", "smollm2"));

public sealed class Qwen3TokenizerFixture() : TokenizerFixture(SharedData.Path("fixtures", "tokenizers", "qwen3"));

public sealed class Llama2TokenizerFixture() : TokenizerFixture(SharedData.Path("fixtures", "tokenizers", "llama2"));

public sealed class Stories260KTokenizerFixture() : TokenizerFixture(SharedData.Stories260K);

/// <summary>Round-trip and streaming checks shared by every tokenizer's tests.</summary>
public static class TokenizerAssertions
{
    public static readonly TheoryData<string> RoundTripTexts = new()
    {
        "The quick brown fox jumps over the lazy dog.",
        "Once upon a time, there was a little girl named Lily.",
        "Emoji: 😀👍🏽🍕🦩 and a flag 🇩🇪!",
        "日本語のテキストと中文文本，한국어도。",
        "Café naïve résumé — Zürich, São Paulo, Ærøskøbing, Œuvre.",
        "  two leading spaces,\ttabs,\r\nnewlines\n\nand 12345 3.14 numbers  ",
        "{\"json\": [1, 2, {\"k\": \"v\"}], \"x\": null}",
    };

    /// <summary>Text whose characters lie outside most vocabularies, so they split into several byte tokens.</summary>
    public const string SplitCharacterText = "Music 𝄞 flamingo 🦩 and 龘 then 👍🏽 done";

    public static void RoundTrips(TextTokenizer tokenizer, string text)
    {
        var ids = tokenizer.Encode(text, addBos: false);
        Assert.Equal(text, tokenizer.Decode(ids));
        var withBos = tokenizer.Encode(text, addBos: true);
        Assert.Equal(text, tokenizer.Decode(withBos, skipSpecialTokens: true));
    }

    /// <summary>Streams ids one by one: no piece may hold U+FFFD, and the pieces must add up to the full decode.</summary>
    public static void StreamsWithoutBrokenCharacters(TextTokenizer tokenizer, IReadOnlyList<int> ids, bool skipSpecialTokens = false)
    {
        var decoder = tokenizer.CreateStreamingDecoder(skipSpecialTokens);
        var pieces = new List<string>();
        foreach (var id in ids) pieces.Add(decoder.Append(id));
        pieces.Add(decoder.Flush());
        Assert.All(pieces, piece => Assert.DoesNotContain('\uFFFD', piece));
        Assert.Equal(tokenizer.Decode(ids, skipSpecialTokens), string.Concat(pieces));
    }

    public static bool IsCompleteUtf8(ReadOnlyMemory<byte> bytes) => System.Text.Unicode.Utf8.IsValid(bytes.Span);
}
