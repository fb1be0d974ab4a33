using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>Compiles a JSON Schema (<see cref="JsonElement"/>) into <see cref="JsonSchemaNode"/>s; never throws on
/// unknown or malformed keywords (they are ignored).</summary>
internal sealed class JsonSchemaCompiler
{
    private readonly JsonElement _root;
    private readonly Dictionary<string, JsonSchemaNode> _refs = new(StringComparer.Ordinal);
    private readonly JsonSchemaNode _any = JsonSchemaNode.CreateAny();
    private int _budget = 100_000;

    private JsonSchemaCompiler(JsonElement root) => _root = root;

    public static JsonSchemaNode Compile(JsonElement? schema)
    {
        if (schema is not { } s) return JsonSchemaNode.CreateAny();
        var c = new JsonSchemaCompiler(s);
        return c.Compile(s, 0);
    }

    private JsonSchemaNode Compile(JsonElement e, int depth)
    {
        if (e.ValueKind != JsonValueKind.Object || depth > 64 || --_budget < 0) return _any;
        if (e.TryGetProperty("$ref", out var r) && r.ValueKind == JsonValueKind.String)
            return ResolveRef(r.GetString()!, depth);
        var node = new JsonSchemaNode();
        Fill(node, e, depth);
        return node;
    }

    private JsonSchemaNode ResolveRef(string reference, int depth)
    {
        if (_refs.TryGetValue(reference, out var cached)) return cached;
        if (!reference.StartsWith('#') || !TryResolvePointer(reference.AsSpan(1), out var target)) return _any;
        var node = new JsonSchemaNode();
        _refs[reference] = node; // registered before filling so recursive schemas terminate
        if (target.ValueKind == JsonValueKind.Object && target.TryGetProperty("$ref", out var inner) && inner.ValueKind == JsonValueKind.String)
            node.CopyFrom(ResolveRef(inner.GetString()!, depth + 1));
        else if (target.ValueKind == JsonValueKind.Object)
            Fill(node, target, depth + 1);
        else
            node.CopyFrom(_any);
        return node;
    }

    private bool TryResolvePointer(ReadOnlySpan<char> pointer, out JsonElement target)
    {
        target = _root;
        var text = Uri.UnescapeDataString(pointer.ToString());
        if (text.Length == 0) return true;
        if (text[0] != '/') return false;
        foreach (var raw in text[1..].Split('/'))
        {
            var seg = raw.Replace("~1", "/").Replace("~0", "~");
            if (target.ValueKind == JsonValueKind.Object && target.TryGetProperty(seg, out var next)) target = next;
            else if (target.ValueKind == JsonValueKind.Array && int.TryParse(seg, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < target.GetArrayLength()) target = target[i];
            else return false;
        }
        return true;
    }

    private void Fill(JsonSchemaNode node, JsonElement e, int depth)
    {
        foreach (var unionKeyword in (ReadOnlySpan<string>)["anyOf", "oneOf"])
        {
            if (e.TryGetProperty(unionKeyword, out var alts) && alts.ValueKind == JsonValueKind.Array && alts.GetArrayLength() > 0)
            {
                var compiled = new List<JsonSchemaNode>();
                foreach (var alt in alts.EnumerateArray()) compiled.Add(Compile(alt, depth + 1));
                Merge(node, compiled);
                return;
            }
        }
        if (e.TryGetProperty("allOf", out var all) && all.ValueKind == JsonValueKind.Array && all.GetArrayLength() == 1
            && !e.TryGetProperty("type", out _) && !e.TryGetProperty("properties", out _))
        {
            node.CopyFrom(Compile(all[0], depth + 1));
            return;
        }

        var hasType = false;
        if (e.TryGetProperty("type", out var type))
        {
            var mask = JsonTypes.None;
            if (type.ValueKind == JsonValueKind.String) mask = ParseType(type.GetString());
            else if (type.ValueKind == JsonValueKind.Array)
                foreach (var t in type.EnumerateArray())
                    if (t.ValueKind == JsonValueKind.String) mask |= ParseType(t.GetString());
            if (mask != JsonTypes.None) { node.Types = mask; hasType = true; }
        }

        // enum / const: a fixed set of canonical texts
        List<string>? literals = null;
        if (e.TryGetProperty("const", out var constValue)) literals = [Canonical(constValue)];
        else if (e.TryGetProperty("enum", out var en) && en.ValueKind == JsonValueKind.Array)
        {
            literals = [];
            foreach (var v in en.EnumerateArray())
            {
                var text = Canonical(v);
                if (!literals.Contains(text)) literals.Add(text);
            }
        }
        if (literals != null)
        {
            if (hasType) literals.RemoveAll(l => !Covers(node.Types, l));
            if (literals.Count > 0)
            {
                node.Types = JsonTypes.None;
                node.Literals = [.. literals];
            }
        }

        // string
        node.MinLength = GetCount(e, "minLength", 0);
        node.MaxLength = Math.Max(node.MinLength, GetCount(e, "maxLength", int.MaxValue));
        if (e.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.String)
        {
            // templates: Y year 1-2, D digit, M/m month, d/e day (01-28), h/H hour, n minute/second tens, x hex
            (node.Format, node.FormatAllowsZ) = format.GetString() switch
            {
                "date-time" => ("YDDD-Mm-deThH:nD:nD", true),
                "date" => ("YDDD-Mm-de", false),
                "time" => ("hH:nD:nD", false),
                "uuid" => ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", false),
                _ => ((string?)null, false),
            };
        }

        // array
        node.Items = e.TryGetProperty("items", out var items) ? Compile(items, depth + 1) : _any;
        node.MinItems = GetCount(e, "minItems", 0);
        node.MaxItems = Math.Max(node.MinItems, GetCount(e, "maxItems", int.MaxValue));

        // object
        node.Additional = _any;
        var additionalFalse = false;
        if (e.TryGetProperty("additionalProperties", out var ap))
        {
            if (ap.ValueKind == JsonValueKind.False) additionalFalse = true;
            else if (ap.ValueKind == JsonValueKind.Object) node.Additional = Compile(ap, depth + 1);
        }
        var keys = new List<string>();
        var names = new List<string>();
        var schemas = new List<JsonSchemaNode>();
        if (e.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in props.EnumerateObject())
            {
                if (names.Contains(p.Name)) continue;
                names.Add(p.Name);
                keys.Add(JsonSchemaNode.EscapeString(p.Name) + "\"");
                schemas.Add(Compile(p.Value, depth + 1));
            }
        }
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (e.TryGetProperty("required", out var req) && req.ValueKind == JsonValueKind.Array)
            foreach (var r in req.EnumerateArray())
                if (r.ValueKind == JsonValueKind.String) required.Add(r.GetString()!);
        node.KeysConstrained = additionalFalse || keys.Count > 0;
        node.PropertyKeys = [.. keys];
        node.PropertySchemas = [.. schemas];
        node.NextRequired = new int[keys.Count + 1];
        node.NextRequired[keys.Count] = keys.Count;
        for (var i = keys.Count - 1; i >= 0; i--)
            node.NextRequired[i] = required.Contains(names[i]) ? i : node.NextRequired[i + 1];
    }

    private void Merge(JsonSchemaNode node, List<JsonSchemaNode> alts)
    {
        node.Types = JsonTypes.None;
        node.Items = _any;
        node.Additional = _any;
        JsonSchemaNode? str = null, arr = null, obj = null;
        var literals = new List<string>();
        foreach (var a in alts)
        {
            node.Types |= a.Types;
            if (a.Literals != null) literals.AddRange(a.Literals);
            if (str == null && (a.Types & JsonTypes.String) != 0) str = a;
            if (arr == null && (a.Types & JsonTypes.Array) != 0) arr = a;
            if (obj == null && (a.Types & JsonTypes.Object) != 0) obj = a;
        }
        if (str != null) { node.MinLength = str.MinLength; node.MaxLength = str.MaxLength; node.Format = str.Format; node.FormatAllowsZ = str.FormatAllowsZ; }
        if (arr != null) { node.Items = arr.Items; node.MinItems = arr.MinItems; node.MaxItems = arr.MaxItems; }
        if (obj != null)
        {
            node.KeysConstrained = obj.KeysConstrained; node.PropertyKeys = obj.PropertyKeys;
            node.PropertySchemas = obj.PropertySchemas; node.NextRequired = obj.NextRequired; node.Additional = obj.Additional;
        }
        var kept = new List<string>();
        foreach (var l in literals.Distinct())
        {
            if (Covers(node.Types, l)) continue;
            var kind = JsonSchemaNode.KindOf(l);
            if (kind == JsonTypes.Number && (node.Types & JsonTypes.Integer) != 0) { node.Types |= JsonTypes.Number; continue; }
            if (kind == JsonTypes.Integer && (node.Types & JsonTypes.Number) != 0) continue;
            kept.Add(l);
        }
        // numeric literals sharing a first character class with a numeric type would be ambiguous: widen to the type
        if ((node.Types & (JsonTypes.Integer | JsonTypes.Number)) != 0) kept.RemoveAll(l => (JsonSchemaNode.KindOf(l) & (JsonTypes.Integer | JsonTypes.Number)) != 0);
        node.Literals = kept.Count > 0 ? [.. kept] : null;
        if (node.Types == JsonTypes.None && node.Literals == null) node.CopyFrom(_any);
    }

    private static bool Covers(JsonTypes types, string literal)
    {
        var kind = JsonSchemaNode.KindOf(literal);
        if (kind == JsonTypes.Integer) return (types & (JsonTypes.Integer | JsonTypes.Number)) != 0;
        return (types & kind) != 0;
    }

    private static string Canonical(JsonElement e)
    {
        var sb = new StringBuilder();
        JsonSchemaNode.AppendCanonical(sb, e);
        return sb.ToString();
    }

    private static JsonTypes ParseType(string? t) => t switch
    {
        "null" => JsonTypes.Null,
        "boolean" => JsonTypes.Boolean,
        "integer" => JsonTypes.Integer,
        "number" => JsonTypes.Number | JsonTypes.Integer,
        "string" => JsonTypes.String,
        "array" => JsonTypes.Array,
        "object" => JsonTypes.Object,
        _ => JsonTypes.None,
    };

    private static int GetCount(JsonElement e, string name, int fallback)
    {
        if (e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d >= 0)
            return d >= int.MaxValue ? int.MaxValue : (int)Math.Ceiling(d);
        return fallback;
    }
}
