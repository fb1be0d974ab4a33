namespace LayerSkip.Engine.Tokenization;
public sealed class TextTokenizer
{
    public static TextTokenizer Load(string folder) => new();
    public int VocabSize => 512;
    public int? BosTokenId => 1; public int? EosTokenId => 2; public bool AddBosByDefault => true;
    public IReadOnlyList<int> Encode(string text, bool addBos) => throw new NotImplementedException();
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false) => throw new NotImplementedException();
    public bool IsSpecial(int id) => false; public ReadOnlyMemory<byte> TokenBytes(int id) => default;
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => throw new NotImplementedException();
}
public sealed class StreamingDecoder { public string Append(int t) => ""; public string Flush() => "";
}
