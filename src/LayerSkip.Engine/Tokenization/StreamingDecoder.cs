using System.Text;

namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// Turns generated ids into text as they arrive. Bytes that do not yet form a complete UTF-8 character (an emoji or CJK
/// character split over byte tokens) are held back until they do, so no output ever contains a broken character.
/// The concatenation of every <see cref="Append"/> result and <see cref="Flush"/> equals <see cref="TextTokenizer.Decode"/>
/// of all the ids. Not thread-safe: one decoder per generation.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly TextTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private byte[] _pending = new byte[16];
    private int _pendingLength;
    private bool _atStart = true;

    internal StreamingDecoder(TextTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the text it completes (possibly empty).</summary>
    public string Append(int tokenId)
    {
        if (_skipSpecialTokens && _tokenizer.IsSpecial(tokenId)) return string.Empty;
        var bytes = _tokenizer.TokenBytes(tokenId).Span;
        if (bytes.IsEmpty) return string.Empty;
        if (_atStart)
        {
            _atStart = false;
            if (_tokenizer.StripsLeadingSpace && bytes[0] == (byte)' ') bytes = bytes[1..];
        }

        if (_pendingLength + bytes.Length > _pending.Length)
            Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + bytes.Length));
        bytes.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += bytes.Length;

        int complete = CompletePrefixLength(_pending.AsSpan(0, _pendingLength));
        return Take(complete);
    }

    /// <summary>Returns whatever is still held back (an unfinished character decodes as U+FFFD, as in a full decode).</summary>
    public string Flush() => Take(_pendingLength);

    private string Take(int count)
    {
        if (count == 0) return string.Empty;
        var text = Encoding.UTF8.GetString(_pending, 0, count);
        _pending.AsSpan(count, _pendingLength - count).CopyTo(_pending);
        _pendingLength -= count;
        return text;
    }

    /// <summary>Length of the prefix that ends on a character boundary: a trailing lead byte still waiting for continuation bytes is excluded.</summary>
    internal static int CompletePrefixLength(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        for (int back = 1; back <= Math.Min(3, n); back++)
        {
            byte b = bytes[n - back];
            if ((b & 0xC0) == 0x80) continue; // continuation byte: keep looking for its lead byte
            int needed = b switch
            {
                >= 0xC2 and <= 0xDF => 2,
                >= 0xE0 and <= 0xEF => 3,
                >= 0xF0 and <= 0xF4 => 4,
                _ => 1,
            };
            return needed > back ? n - back : n;
        }
        return n;
    }
}
