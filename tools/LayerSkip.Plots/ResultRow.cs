using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LayerSkip.Plots;

/// <summary>
/// One measured row, whatever file it came from: a JSON array (bench --json), JSON lines (one object per line, as
/// bench/eval/peer runs append them) or a Markdown table (eval --markdown, the tables in docs). Keys are normalised
/// ("target r" → target_r, "decode tok/s" → decode_tok_s) so each chart can ask for the names it knows.
/// </summary>
public sealed class ResultRow(IReadOnlyDictionary<string, string> values)
{
    public IReadOnlyDictionary<string, string> Values { get; } = values;

    public static string Key(string name) => Regex.Replace(name.Trim().ToLowerInvariant(), "[^a-z0-9]+", "_").Trim('_');

    public bool Has(params string[] keys) => keys.Any(k => Values.ContainsKey(k));

    public string? Text(params string[] keys) =>
        keys.Select(k => Values.TryGetValue(k, out var v) ? v : null).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));

    /// <summary>The first of the keys that holds a number ("59.6 %" → 59.6, "1.72x" → 1.72, "**22.76**" → 22.76).</summary>
    public double? Number(params string[] keys)
    {
        foreach (var k in keys)
        {
            if (!Values.TryGetValue(k, out var v)) continue;
            var m = Regex.Match(v, @"-?\d+(\.\d+)?([eE][-+]?\d+)?");
            if (m.Success && double.TryParse(m.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return d;
        }
        return null;
    }

    /// <summary>The first key that contains all the given parts (for files whose exact column names vary).</summary>
    public double? NumberLike(params string[] parts) =>
        Values.Keys.Where(k => parts.All(k.Contains)).Select(k => Number(k)).FirstOrDefault(v => v is not null);

    public static IReadOnlyList<ResultRow> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Result file '{path}' does not exist.", path);
        var text = File.ReadAllText(path);
        try
        {
            if (path.EndsWith(".md", StringComparison.OrdinalIgnoreCase)) return FromMarkdown(text);
            var trimmed = text.TrimStart();
            if (trimmed.StartsWith('[')) return FromJsonArray(trimmed);
            return text.Split('\n').Where(l => l.Trim().StartsWith('{')).Select(l => FromJsonObject(JsonDocument.Parse(l).RootElement)).ToList();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Result file '{path}' is not valid JSON or JSON lines: {e.Message}", e);
        }
    }

    private static List<ResultRow> FromJsonArray(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().Select(FromJsonObject).ToList();
    }

    private static ResultRow FromJsonObject(JsonElement o)
    {
        var values = new Dictionary<string, string>();
        foreach (var p in o.EnumerateObject())
            values[Key(p.Name)] = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Array => string.Join(',', p.Value.EnumerateArray().Select(e => e.ToString())),
                _ => p.Value.GetRawText(),
            };
        return new ResultRow(values);
    }

    /// <summary>Rows of every Markdown table in the text (header row, separator row, data rows).</summary>
    private static List<ResultRow> FromMarkdown(string text)
    {
        var rows = new List<ResultRow>();
        var lines = text.Split('\n').Select(l => l.Trim()).ToArray();
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith('|') || !Regex.IsMatch(lines[i + 1], @"^\|[\s:\-|]+\|$")) continue;
            var header = Cells(lines[i]).Select(Key).ToArray();
            for (i += 2; i < lines.Length && lines[i].StartsWith('|'); i++)
            {
                var cells = Cells(lines[i]);
                rows.Add(new ResultRow(header.Zip(cells).ToDictionary(p => p.First, p => p.Second)));
            }
        }
        return rows;
    }

    private static string[] Cells(string line) => line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
}
