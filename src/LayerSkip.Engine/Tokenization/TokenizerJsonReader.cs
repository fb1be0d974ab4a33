using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// Reads a Hugging Face tokenizer.json with a BPE model. Byte-level vocabularies (Llama-3, Qwen, SmolLM) become a
/// Microsoft.ML.Tokenizers <see cref="BpeTokenizer"/> (vocab, merges, added tokens as special tokens, ByteLevel, the
/// file's split regexes as pre-tokenizer); SentencePiece-style ones (byte_fallback, '▁' spaces) become a
/// <see cref="ByteFallbackBpeTokenizer"/>. Anything else is refused with an <see cref="InvalidDataException"/> naming
/// the file and the unsupported part.
/// </summary>
internal static class TokenizerJsonReader
{
    public static TokenizerModel Read(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: not valid JSON ({ex.Message}).", ex); }

        using (doc)
        {
            try
            {
                return Read(path, doc.RootElement);
            }
            catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
            {
                throw new InvalidDataException($"{path}: malformed tokenizer.json ({ex.Message}).", ex);
            }
        }
    }

    private static TokenizerModel Read(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: no \"model\" object; not a Hugging Face tokenizer.json.");

        var modelType = OptionalString(model, "type") ?? (model.TryGetProperty("merges", out _) ? "BPE" : null);
        if (modelType != "BPE")
            throw new InvalidDataException($"{path}: unsupported model type '{modelType ?? "(none)"}'; only BPE tokenizers are supported.");

        if (!model.TryGetProperty("vocab", out var vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: model.vocab is missing or not an object.");
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabElement.EnumerateObject()) vocabulary[entry.Name] = entry.Value.GetInt32();

        var addedTokens = ReadAddedTokens(root);
        CheckIds(path, vocabulary.Values.Concat(addedTokens.Select(t => t.Id)));
        var merges = ReadMerges(path, model);

        var normalizer = ReadNormalizer(path, root.GetPropertyOrNull("normalizer"));
        var (splitSteps, byteLevelPreTokenizer) = ReadPreTokenizer(path, root.GetPropertyOrNull("pre_tokenizer"));
        var decoderTypes = new List<string>();
        CollectTypes(root.GetPropertyOrNull("decoder"), "decoders", decoderTypes);

        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        bool byteLevel = byteLevelPreTokenizer || decoderTypes.Contains("ByteLevel");
        bool sentencePiece = !byteLevel && (byteFallback || decoderTypes.Contains("ByteFallback") || decoderTypes.Contains("Replace"));
        if (!byteLevel && !sentencePiece)
            throw new InvalidDataException(
                $"{path}: unsupported BPE flavour (neither a ByteLevel pre-tokenizer/decoder nor SentencePiece byte fallback; decoder: {string.Join(", ", decoderTypes)}).");
        if (byteLevel && byteFallback)
            throw new InvalidDataException($"{path}: byte_fallback together with a ByteLevel pre-tokenizer is not supported.");

        var unknownToken = OptionalString(model, "unk_token");
        var preTokenizer = splitSteps.Count > 0 ? new SplitPreTokenizer(splitSteps) : null;
        Tokenizer inner;
        TokenTextStyle style;
        if (byteLevel)
        {
            var options = new BpeOptions(vocabulary)
            {
                Merges = merges.Select(m => m.Left + " " + m.Right).ToList(),
                SpecialTokens = addedTokens.Count == 0 ? null : addedTokens.ToDictionary(t => t.Content, t => t.Id),
                ByteLevel = true,
                PreTokenizer = preTokenizer,
                Normalizer = normalizer,
                UnknownToken = unknownToken,
                ContinuingSubwordPrefix = NullIfEmpty(OptionalString(model, "continuing_subword_prefix")),
                EndOfWordSuffix = NullIfEmpty(OptionalString(model, "end_of_word_suffix")),
            };
            inner = BpeTokenizer.Create(options);
            style = TokenTextStyle.ByteLevel;
        }
        else
        {
            bool fuseUnknown = model.TryGetProperty("fuse_unk", out var fu) && fu.ValueKind == JsonValueKind.True;
            inner = new ByteFallbackBpeTokenizer(vocabulary, merges, unknownToken, byteFallback, fuseUnknown, normalizer, preTokenizer);
            style = TokenTextStyle.SentencePiece;
        }

        var (defaultBos, defaultAddBos) = ReadBosTemplate(root.GetPropertyOrNull("post_processor"));
        var encoder = inner;
        return new TokenizerModel(
            inner, style, vocabulary, addedTokens,
            text => encoder.EncodeToIds(text),
            defaultBos, DefaultEosToken: null, defaultAddBos);
    }

    private static List<(string Left, string Right)> ReadMerges(string path, JsonElement model)
    {
        var merges = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var element) || element.ValueKind == JsonValueKind.Null) return merges;
        if (element.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: model.merges is not an array.");
        foreach (var merge in element.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String)
            {
                var text = merge.GetString()!;
                int space = text.IndexOf(' ', 1);
                if (space < 0) throw new InvalidDataException($"{path}: merge \"{text}\" is not two tokens separated by a space.");
                merges.Add((text[..space], text[(space + 1)..]));
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2)
            {
                merges.Add((merge[0].GetString()!, merge[1].GetString()!));
            }
            else throw new InvalidDataException($"{path}: a merge is neither \"a b\" nor [\"a\", \"b\"].");
        }
        return merges;
    }

    /// <summary>The largest token id accepted: per-token tables are sized by the largest id (real vocabularies stay below 2^20).</summary>
    public const int MaxTokenId = (1 << 24) - 1;

    /// <summary>Refuses negative or absurd ids before anything sized by them is allocated.</summary>
    private static void CheckIds(string path, IEnumerable<int> ids)
    {
        foreach (var id in ids)
            if (id is < 0 or > MaxTokenId)
                throw new InvalidDataException($"{path}: token id {id} is outside [0, {MaxTokenId}].");
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root)
    {
        var tokens = new List<AddedToken>();
        if (root.GetPropertyOrNull("added_tokens") is not { ValueKind: JsonValueKind.Array } array) return tokens;
        foreach (var t in array.EnumerateArray())
            tokens.Add(new AddedToken(
                t.GetProperty("id").GetInt32(),
                t.GetProperty("content").GetString()!,
                Flag(t, "special"), Flag(t, "lstrip"), Flag(t, "rstrip")));
        return tokens;
    }

    private static Normalizer? ReadNormalizer(string path, JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } normalizer) return null;
        var steps = new List<Func<string, string>>();
        AddNormalizerSteps(path, normalizer, steps);
        return steps.Count == 0 ? null : new StepNormalizer(steps);
    }

    private static void AddNormalizerSteps(string path, JsonElement n, List<Func<string, string>> steps)
    {
        var type = OptionalString(n, "type");
        switch (type)
        {
            case "Sequence":
                foreach (var inner in n.GetProperty("normalizers").EnumerateArray()) AddNormalizerSteps(path, inner, steps);
                break;
            case "NFC": steps.Add(StepNormalizer.UnicodeForm(NormalizationForm.FormC)); break;
            case "NFD": steps.Add(StepNormalizer.UnicodeForm(NormalizationForm.FormD)); break;
            case "NFKC": steps.Add(StepNormalizer.UnicodeForm(NormalizationForm.FormKC)); break;
            case "NFKD": steps.Add(StepNormalizer.UnicodeForm(NormalizationForm.FormKD)); break;
            case "Lowercase": steps.Add(StepNormalizer.Lowercase()); break;
            case "Prepend": steps.Add(StepNormalizer.Prepend(n.GetProperty("prepend").GetString()!)); break;
            case "Replace":
                var pattern = n.GetProperty("pattern");
                var content = n.GetProperty("content").GetString()!;
                if (pattern.TryGetProperty("String", out var literal)) steps.Add(StepNormalizer.Replace(literal.GetString()!, content));
                else if (pattern.TryGetProperty("Regex", out var regex))
                {
                    var compiled = new Regex(regex.GetString()!, RegexOptions.CultureInvariant);
                    steps.Add(s => compiled.Replace(s, content));
                }
                else throw new InvalidDataException($"{path}: Replace normalizer without a String or Regex pattern.");
                break;
            default:
                throw new InvalidDataException($"{path}: unsupported normalizer type '{type}'.");
        }
    }

    private static (List<Regex> Steps, bool ByteLevel) ReadPreTokenizer(string path, JsonElement? element)
    {
        var steps = new List<Regex>();
        bool byteLevel = false;
        if (element is { ValueKind: JsonValueKind.Object } pre) Add(pre);
        return (steps, byteLevel);

        void Add(JsonElement p)
        {
            var type = OptionalString(p, "type");
            switch (type)
            {
                case "Sequence":
                    foreach (var inner in p.GetProperty("pretokenizers").EnumerateArray()) Add(inner);
                    break;
                case "ByteLevel":
                    byteLevel = true;
                    if (Flag(p, "add_prefix_space"))
                        throw new InvalidDataException($"{path}: ByteLevel pre-tokenizer with add_prefix_space is not supported.");
                    if (!p.TryGetProperty("use_regex", out var useRegex) || useRegex.ValueKind != JsonValueKind.False)
                        steps.Add(Compile(SplitPreTokenizer.Gpt2Pattern));
                    break;
                case "Split":
                    var behavior = OptionalString(p, "behavior");
                    if (behavior != "Isolated" || Flag(p, "invert"))
                        throw new InvalidDataException($"{path}: Split pre-tokenizer with behavior '{behavior}'{(Flag(p, "invert") ? " and invert" : "")} is not supported (only Isolated).");
                    var pattern = p.GetProperty("pattern");
                    if (pattern.TryGetProperty("Regex", out var regex)) steps.Add(Compile(regex.GetString()!));
                    else if (pattern.TryGetProperty("String", out var literal)) steps.Add(Compile(Regex.Escape(literal.GetString()!)));
                    else throw new InvalidDataException($"{path}: Split pre-tokenizer without a Regex or String pattern.");
                    break;
                case "Digits":
                    steps.Add(Compile(Flag(p, "individual_digits") ? @"\p{N}" : @"\p{N}+"));
                    break;
                default:
                    throw new InvalidDataException($"{path}: unsupported pre_tokenizer type '{type}'.");
            }
        }

        Regex Compile(string pattern)
        {
            try { return new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant); }
            catch (ArgumentException ex) { throw new InvalidDataException($"{path}: pre-tokenizer regex cannot be used by .NET ({ex.Message}).", ex); }
        }
    }

    /// <summary>A TemplateProcessing post-processor whose single-sequence template starts with a special token: that token is the BOS added by default.</summary>
    private static (string? Bos, bool AddBos) ReadBosTemplate(JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } post || OptionalString(post, "type") != "TemplateProcessing") return (null, false);
        if (post.GetPropertyOrNull("single") is not { ValueKind: JsonValueKind.Array } single || single.GetArrayLength() == 0) return (null, false);
        var first = single[0];
        if (first.TryGetProperty("SpecialToken", out var special) && special.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
            return (id.GetString(), true);
        return (null, false);
    }

    private static void CollectTypes(JsonElement? element, string childrenKey, List<string> types)
    {
        if (element is not { ValueKind: JsonValueKind.Object } e) return;
        if (OptionalString(e, "type") is string type) types.Add(type);
        if (e.GetPropertyOrNull(childrenKey) is { ValueKind: JsonValueKind.Array } children)
            foreach (var child in children.EnumerateArray()) CollectTypes(child, childrenKey, types);
    }

    private static JsonElement? GetPropertyOrNull(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static string? OptionalString(JsonElement element, string name) =>
        element.GetPropertyOrNull(name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    private static bool Flag(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
