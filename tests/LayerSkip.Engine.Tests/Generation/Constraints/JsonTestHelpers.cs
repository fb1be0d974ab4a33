using System.Text.Json;
using LayerSkip.Engine.Generation.Constraints;

namespace LayerSkip.Engine.Tests.Generation.Constraints;

internal static class JsonTestHelpers
{
    private static readonly char[] Closers = ['"', ']', '}', ','];

    /// <summary>Samples allowed tokens at random (seeded, biased towards closing tokens so walks end) until EOS;
    /// checks the mask is never empty before completion and agrees with <see cref="JsonConstraint.IsAllowed"/>.</summary>
    public static string RandomWalk(JsonConstraint c, int seed, int maxSteps = 3000)
    {
        var rng = new Random(seed);
        var mask = new bool[c.VocabularySize];
        var allowed = new List<int>();
        var closing = new List<int>();
        var texts = c.Vocabulary.TokenTexts;
        for (var step = 0; step < maxSteps; step++)
        {
            c.ComputeAllowedMask(mask);
            allowed.Clear();
            closing.Clear();
            var eosAllowed = false;
            for (var i = 0; i < mask.Length; i++)
            {
                if (!mask[i]) continue;
                if (c.Vocabulary.EosTokenIds.Contains(i)) { eosAllowed = true; continue; }
                allowed.Add(i);
                if (texts[i]!.IndexOfAny(Closers) >= 0) closing.Add(i);
            }
            Assert.Equal(c.IsComplete, eosAllowed);
            if (!c.IsComplete) Assert.True(allowed.Count > 0, $"empty mask after \"{c.Text}\"");
            for (var k = 0; k < 8; k++)
            {
                var t = rng.Next(mask.Length);
                Assert.True(mask[t] == c.IsAllowed(t), $"mask/IsAllowed disagree on token {t} '{texts[t]}' after \"{c.Text}\"");
            }
            if (eosAllowed && (allowed.Count == 0 || rng.Next(3) > 0))
            {
                c.Accept(c.Vocabulary.EosTokenIds[0]);
                return c.Text;
            }
            var pool = closing.Count > 0 && rng.Next(100) < 40 ? closing : allowed;
            c.Accept(pool[rng.Next(pool.Count)]);
        }
        throw new Xunit.Sdk.XunitException($"walk did not finish in {maxSteps} steps: \"{c.Text}\"");
    }

    /// <summary>Validates <paramref name="value"/> against the schema subset the constraint supports.</summary>
    public static void Validate(JsonElement value, JsonElement schema, JsonElement root, string path = "$")
    {
        if (schema.ValueKind != JsonValueKind.Object) return;
        if (schema.TryGetProperty("$ref", out var r))
        {
            var target = root;
            foreach (var seg in r.GetString()!.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries)) target = target.GetProperty(seg);
            Validate(value, target, root, path);
            return;
        }
        foreach (var union in new[] { "anyOf", "oneOf" })
        {
            if (!schema.TryGetProperty(union, out var alts)) continue;
            var errors = new List<string>();
            foreach (var alt in alts.EnumerateArray())
            {
                try { Validate(value, alt, root, path); return; }
                catch (Exception e) { errors.Add(e.Message); }
            }
            throw new Xunit.Sdk.XunitException($"{path}: no {union} alternative matched: {string.Join(" | ", errors)}");
        }
        if (schema.TryGetProperty("const", out var cv)) Assert.True(JsonElement.DeepEquals(cv, value), $"{path}: const");
        if (schema.TryGetProperty("enum", out var en))
            Assert.True(en.EnumerateArray().Any(v => JsonElement.DeepEquals(v, value)), $"{path}: {value} not in enum");
        if (schema.TryGetProperty("type", out var type))
        {
            var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToArray() : [type.GetString()!];
            Assert.True(types.Any(t => Is(value, t)), $"{path}: {value.GetRawText()} is not {string.Join("|", types)}");
        }
        if (value.ValueKind == JsonValueKind.Object)
        {
            var props = schema.TryGetProperty("properties", out var p) ? p : default;
            if (schema.TryGetProperty("required", out var req))
                foreach (var name in req.EnumerateArray())
                    Assert.True(value.TryGetProperty(name.GetString()!, out _), $"{path}: missing required {name}");
            var constrained = props.ValueKind == JsonValueKind.Object && props.EnumerateObject().Any()
                              || schema.TryGetProperty("additionalProperties", out var ap) && ap.ValueKind == JsonValueKind.False;
            var seen = new HashSet<string>();
            foreach (var m in value.EnumerateObject())
            {
                Assert.True(seen.Add(m.Name) || !constrained, $"{path}: duplicate key {m.Name}"); // free keys may repeat (documented)
                if (props.ValueKind == JsonValueKind.Object && props.TryGetProperty(m.Name, out var ps)) Validate(m.Value, ps, root, path + "." + m.Name);
                else
                {
                    Assert.False(constrained, $"{path}: unexpected key {m.Name}");
                    if (schema.TryGetProperty("additionalProperties", out var ads)) Validate(m.Value, ads, root, path + "." + m.Name);
                }
            }
        }
        if (value.ValueKind == JsonValueKind.Array)
        {
            var n = value.GetArrayLength();
            if (schema.TryGetProperty("minItems", out var min)) Assert.True(n >= min.GetInt32(), $"{path}: minItems");
            if (schema.TryGetProperty("maxItems", out var max)) Assert.True(n <= max.GetInt32(), $"{path}: maxItems");
            if (schema.TryGetProperty("items", out var items))
            {
                var i = 0;
                foreach (var item in value.EnumerateArray()) Validate(item, items, root, $"{path}[{i++}]");
            }
        }
        if (value.ValueKind == JsonValueKind.String)
        {
            var len = value.GetString()!.Length;
            if (schema.TryGetProperty("minLength", out var min)) Assert.True(len >= min.GetInt32(), $"{path}: minLength");
            if (schema.TryGetProperty("maxLength", out var max)) Assert.True(len <= max.GetInt32(), $"{path}: maxLength");
        }
    }

    private static bool Is(JsonElement v, string type) => type switch
    {
        "object" => v.ValueKind == JsonValueKind.Object,
        "array" => v.ValueKind == JsonValueKind.Array,
        "string" => v.ValueKind == JsonValueKind.String,
        "number" => v.ValueKind == JsonValueKind.Number,
        "integer" => v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out _),
        "boolean" => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => v.ValueKind == JsonValueKind.Null,
        _ => true,
    };
}
