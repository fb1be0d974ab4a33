namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// The GPT-2 byte-to-unicode table used by byte-level BPE vocabularies: printable bytes map to themselves, the others
/// to code points from U+0100 up (space → 'Ġ', newline → 'Ċ').
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly Dictionary<char, byte> CharToByte = Build();

    private static Dictionary<char, byte> Build()
    {
        var map = new Dictionary<char, byte>(256);
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[printable ? (char)b : (char)(256 + next++)] = (byte)b;
        }
        return map;
    }

    /// <summary>The raw bytes a byte-level vocabulary entry stands for; characters outside the table are UTF-8 encoded.</summary>
    public static byte[] ToBytes(string token)
    {
        var bytes = new List<byte>(token.Length);
        Span<byte> buffer = stackalloc byte[4];
        foreach (var rune in token.EnumerateRunes())
        {
            if (rune.IsBmp && CharToByte.TryGetValue((char)rune.Value, out var b)) { bytes.Add(b); continue; }
            int written = rune.EncodeToUtf8(buffer);
            for (int k = 0; k < written; k++) bytes.Add(buffer[k]);
        }
        return bytes.ToArray();
    }
}
