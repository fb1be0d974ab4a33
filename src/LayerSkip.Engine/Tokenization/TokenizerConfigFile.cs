using System.Text.Json;

namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// The BOS/EOS settings of a model folder: tokenizer_config.json (bos_token, eos_token as a string or {"content": …},
/// add_bos_token), with config.json's bos_token_id / eos_token_id as the fallback when tokenizer_config.json is absent
/// or silent. A key present with null means "none".
/// </summary>
internal sealed record TokenizerConfigFile(
    bool HasBosToken, string? BosToken,
    bool HasEosToken, string? EosToken,
    bool? AddBosToken,
    int? BosTokenId, int? EosTokenId)
{
    public static TokenizerConfigFile Read(string modelFolder)
    {
        bool hasBos = false, hasEos = false;
        string? bos = null, eos = null;
        bool? addBos = null;
        int? bosId = null, eosId = null;

        var tokenizerConfig = Path.Combine(modelFolder, "tokenizer_config.json");
        if (File.Exists(tokenizerConfig))
        {
            using var doc = ParseObject(tokenizerConfig);
            var root = doc.RootElement;
            hasBos = root.TryGetProperty("bos_token", out var b);
            if (hasBos) bos = TokenText(b, tokenizerConfig, "bos_token");
            hasEos = root.TryGetProperty("eos_token", out var e);
            if (hasEos) eos = TokenText(e, tokenizerConfig, "eos_token");
            if (root.TryGetProperty("add_bos_token", out var a))
                addBos = a.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Null => null,
                    _ => throw new InvalidDataException($"{tokenizerConfig}: add_bos_token must be true or false."),
                };
        }

        var modelConfig = Path.Combine(modelFolder, "config.json");
        if (File.Exists(modelConfig))
        {
            using var doc = ParseObject(modelConfig);
            bosId = FirstId(doc.RootElement, "bos_token_id");
            eosId = FirstId(doc.RootElement, "eos_token_id");
        }

        return new TokenizerConfigFile(hasBos, bos, hasEos, eos, addBos, bosId, eosId);
    }

    private static JsonDocument ParseObject(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: not valid JSON ({ex.Message}).", ex); }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new InvalidDataException($"{path}: expected a JSON object at the top level.");
        }
        return doc;
    }

    private static string? TokenText(JsonElement value, string path, string key) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object when value.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
        _ => throw new InvalidDataException($"{path}: {key} must be a string, an object with \"content\", or null."),
    };

    /// <summary>An id, or the first of a list of ids (Llama-3.1 lists several EOS ids).</summary>
    private static int? FirstId(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var id)) return id;
        if (value.ValueKind == JsonValueKind.Array)
            foreach (var item in value.EnumerateArray())
                if (item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out var first)) return first;
        return null;
    }
}
