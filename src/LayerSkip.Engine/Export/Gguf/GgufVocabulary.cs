using System.Text.Json;
using LayerSkip.Engine.Loading;

namespace LayerSkip.Engine.Export.Gguf;

/// <summary>llama.cpp's token types (<c>tokenizer.ggml.token_type</c>).</summary>
public enum GgufTokenType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/// <summary>
/// The <c>tokenizer.ggml.*</c> metadata of a GGUF file. <see cref="Model"/> is <c>llama</c> for SentencePiece-style
/// BPE with byte fallback (merge priority carried by <see cref="Scores"/>) and <c>gpt2</c> for byte-level BPE (merge
/// priority carried by <see cref="Merges"/>).
/// </summary>
public sealed record GgufVocabulary(
    string Model,
    IReadOnlyList<string> Tokens,
    IReadOnlyList<float> Scores,
    IReadOnlyList<int> TokenTypes,
    IReadOnlyList<string> Merges,
    int? BosId,
    int? EosId,
    int? UnknownId,
    bool AddBos)
{
    public void WriteTo(GgufWriter w)
    {
        w.AddString("tokenizer.ggml.model", Model);
        if (Model == "gpt2") w.AddString("tokenizer.ggml.pre", "default");
        w.AddStrings("tokenizer.ggml.tokens", Tokens);
        w.AddFloat32s("tokenizer.ggml.scores", Scores);
        w.AddInt32s("tokenizer.ggml.token_type", TokenTypes);
        if (Merges.Count > 0) w.AddStrings("tokenizer.ggml.merges", Merges);
        if (BosId is { } bos) w.AddUInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        if (EosId is { } eos) w.AddUInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        if (UnknownId is { } unk) w.AddUInt32("tokenizer.ggml.unknown_token_id", (uint)unk);
        w.AddBool("tokenizer.ggml.add_bos_token", AddBos);
    }

    /// <summary>
    /// A placeholder SentencePiece vocabulary for random-weight models without a tokenizer: &lt;unk&gt;, &lt;s&gt;,
    /// &lt;/s&gt;, the 256 byte pieces, then numbered pieces. Enough for llama.cpp to load the model and run token ids.
    /// </summary>
    public static GgufVocabulary Placeholder(int vocabSize)
    {
        if (vocabSize < 259) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "a placeholder vocabulary needs at least 259 tokens (3 special, 256 bytes)");
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        var scores = new float[vocabSize];
        (tokens[0], types[0]) = ("<unk>", (int)GgufTokenType.Unknown);
        (tokens[1], types[1]) = ("<s>", (int)GgufTokenType.Control);
        (tokens[2], types[2]) = ("</s>", (int)GgufTokenType.Control);
        for (var b = 0; b < 256; b++) (tokens[3 + b], types[3 + b]) = ($"<0x{b:X2}>", (int)GgufTokenType.Byte);
        for (var i = 259; i < vocabSize; i++) (tokens[i], types[i], scores[i]) = ($"▁t{i}", (int)GgufTokenType.Normal, -i);
        return new GgufVocabulary("llama", tokens, scores, types, [], 1, 2, 0, true);
    }

    /// <summary>
    /// Reads a Hugging Face tokenizer.json (BPE, byte-level or with byte fallback), padded with unused entries up to
    /// the model's <paramref name="vocabSize"/> rows.
    /// </summary>
    /// <exception cref="ModelLoadException">The file is missing, malformed, or not a BPE tokenizer.</exception>
    public static GgufVocabulary FromTokenizerJson(string path, int vocabSize, int? bosId, int? eosId, bool addBos)
    {
        if (!File.Exists(path)) throw new ModelLoadException("tokenizer.json not found", path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var model = doc.RootElement.GetProperty("model");
            var type = model.TryGetProperty("type", out var t) ? t.GetString() : "BPE";
            if (type != "BPE")
                throw new ModelLoadException($"tokenizer.json has a {type} model; the GGUF exporter handles BPE tokenizers only", path);
            var byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;

            var size = vocabSize;
            var byId = new Dictionary<int, string>();
            foreach (var p in model.GetProperty("vocab").EnumerateObject()) byId[p.Value.GetInt32()] = p.Name;
            var added = new Dictionary<int, bool>(); // id -> special
            if (doc.RootElement.TryGetProperty("added_tokens", out var addedTokens))
                foreach (var a in addedTokens.EnumerateArray())
                {
                    var id = a.GetProperty("id").GetInt32();
                    byId[id] = a.GetProperty("content").GetString()!;
                    added[id] = a.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                }
            size = Math.Max(size, byId.Keys.Max() + 1);

            var merges = model.TryGetProperty("merges", out var m)
                ? m.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Array
                    ? string.Join(' ', e.EnumerateArray().Select(x => x.GetString()))
                    : e.GetString()!).ToList()
                : [];
            // The rank of the merge that produces each token: SentencePiece-style scores, higher merges first.
            var mergeRank = new Dictionary<string, int>();
            for (var r = 0; r < merges.Count; r++) mergeRank.TryAdd(merges[r].Replace(" ", ""), r);

            var tokens = new string[size];
            var types = new int[size];
            var scores = new float[size];
            for (var id = 0; id < size; id++)
            {
                if (!byId.TryGetValue(id, out var text))
                {
                    (tokens[id], types[id]) = ($"[PAD{id}]", (int)GgufTokenType.Unused);
                    continue;
                }
                tokens[id] = text;
                types[id] = added.TryGetValue(id, out var special)
                    ? (int)(special ? GgufTokenType.Control : GgufTokenType.UserDefined)
                    : byteFallback && IsBytePiece(text) ? (int)GgufTokenType.Byte : (int)GgufTokenType.Normal;
                scores[id] = types[id] == (int)GgufTokenType.Normal
                    ? mergeRank.TryGetValue(text, out var rank) ? -rank : -(merges.Count + id)
                    : 0;
            }
            var unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String
                && byId.FirstOrDefault(kv => kv.Value == u.GetString()) is { Value: not null } hit ? hit.Key : (int?)null;
            if (unk is { } unkId) types[unkId] = (int)GgufTokenType.Unknown;
            return new GgufVocabulary(byteFallback ? "llama" : "gpt2", tokens, scores, types, byteFallback ? [] : merges,
                bosId, eosId, unk, addBos);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ModelLoadException($"tokenizer.json is malformed for GGUF export: {e.Message}", path, e);
        }
    }

    private static bool IsBytePiece(string text) =>
        text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>' && Uri.IsHexDigit(text[3]) && Uri.IsHexDigit(text[4]);
}
