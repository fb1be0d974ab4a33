namespace LayerSkip.Engine.Tests.Generation.Constraints;

/// <summary>Synthetic vocabularies for the JSON constraint tests. Id 0 is EOS, id 1 a special token (null text).</summary>
internal static class TestVocabularies
{
    public const int Eos = 0;

    /// <summary>A few dozen tokens: enough to spell any JSON made of ASCII letters and digits.</summary>
    public static string?[] Small()
    {
        var list = new List<string?> { "</s>", null, "" };
        foreach (var c in "{}[]\",:.-+eE0123456789 \n\\/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") list.Add(c.ToString());
        list.AddRange(["{\"", "\":", "\",", "\"}", "\"]", "true", "false", "null", "name", "age", " \"", "}\n", "\n ", "  ", "[\"", "\\u00", "12", "},", "}]", "],", "tru", ": ", "\":\"", "\"\n", "<", ">", "<tool_call>", "</tool_call>", "\n<"]);
        return [.. list];
    }

    /// <summary>About <paramref name="size"/> tokens: all printable ASCII, whitespace runs, JSON punctuation pieces,
    /// word pieces with/without a leading space, numbers and seeded random strings, like a real BPE vocabulary.</summary>
    public static string?[] Large(int size = 50_000)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<string?> { "<|endoftext|>", null };
        void Add(string s) { if (s.Length > 0 && set.Add(s)) list.Add(s); }
        for (var c = 0x20; c < 0x7F; c++) Add(((char)c).ToString());
        Add("\n"); Add("\t"); Add("\r\n"); Add("é"); Add("€"); Add("\uFFFD"); Add("日本");
        for (var n = 2; n <= 16; n++) { Add(new string(' ', n)); Add("\n" + new string(' ', n - 1)); }
        string[] punct = ["{", "}", "[", "]", "\"", ",", ":", " ", "\n", "\\", "{\"", "\":", "\",", "\"}", "\"]", "\":\"", "\": \"", "\", \"", "},{", "}]", "]}", "\\n", "\\\"", "\\u"];
        foreach (var a in punct) foreach (var b in punct) Add(a + b);
        string[] words = ["name", "age", "city", "the", "and", "of", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he",
            "true", "false", "null", "items", "price", "total", "note", "color", "Red", "Green", "Blue", "data", "value", "id", "type", "Paris", "London",
            "John", "Smith", "hello", "world", "json", "sku", "qty", "gift", "buyer", "codes", "next", "tags", "count"];
        foreach (var w in words)
        {
            Add(w); Add(" " + w); Add("\"" + w); Add("\"" + w + "\""); Add("\"" + w + "\":"); Add(w + "\""); Add(char.ToUpperInvariant(w[0]) + w[1..]);
        }
        for (var i = 0; i < 1000; i++) { Add(i.ToString()); Add(" " + i); }
        Add("0.5"); Add(".0"); Add("e+"); Add("1e"); Add("-1");
        var rng = new Random(12345);
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:;'\"{}[]!?()\n";
        while (list.Count < size)
        {
            var len = 2 + rng.Next(7);
            var chars = new char[len];
            for (var i = 0; i < len; i++) chars[i] = i == 0 && rng.Next(3) == 0 ? ' ' : alphabet[rng.Next(alphabet.Length < 60 ? alphabet.Length : (rng.Next(4) == 0 ? alphabet.Length : 52))];
            Add(new string(chars));
        }
        return [.. list];
    }
}
