using System.Text;
using System.Text.RegularExpressions;

namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// The UTF-8 bytes every id contributes when decoded mid-sequence, computed once: byte-level entries are un-mapped,
/// SentencePiece '▁' becomes a space and &lt;0xNN&gt; byte-fallback pieces become that byte; added tokens give their text.
/// Ids with no entry give no bytes.
/// </summary>
internal sealed partial class TokenBytesTable
{
    private readonly ReadOnlyMemory<byte>[] _bytes;

    public TokenBytesTable(int size, IReadOnlyDictionary<string, int> vocabulary, IEnumerable<AddedToken> addedTokens, TokenTextStyle style)
    {
        _bytes = new ReadOnlyMemory<byte>[size];
        foreach (var (token, id) in vocabulary)
            if ((uint)id < (uint)size) _bytes[id] = ToBytes(token, style);
        foreach (var added in addedTokens)
            if ((uint)added.Id < (uint)size) _bytes[added.Id] = Encoding.UTF8.GetBytes(added.Content);
    }

    public int Count => _bytes.Length;

    public ReadOnlyMemory<byte> this[int id] => (uint)id < (uint)_bytes.Length
        ? _bytes[id]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id must be in [0, {_bytes.Length}).");

    /// <summary>The byte a SentencePiece byte-fallback piece such as "&lt;0x0A&gt;" stands for, or null.</summary>
    public static byte? ByteFallbackValue(string token)
    {
        var match = ByteFallbackPattern().Match(token);
        return match.Success ? Convert.ToByte(match.Groups[1].Value, 16) : null;
    }

    private static byte[] ToBytes(string token, TokenTextStyle style)
    {
        if (style == TokenTextStyle.ByteLevel) return ByteLevelAlphabet.ToBytes(token);
        if (ByteFallbackValue(token) is byte b) return [b];
        return Encoding.UTF8.GetBytes(token.Replace('\u2581', ' '));
    }

    [GeneratedRegex("^<0x([0-9A-Fa-f]{2})>$")]
    private static partial Regex ByteFallbackPattern();
}
