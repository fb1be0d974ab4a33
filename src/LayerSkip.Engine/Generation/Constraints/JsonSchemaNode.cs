using System.Globalization;
using System.Text;
using System.Text.Json;
using LayerSkip.Text;

namespace LayerSkip.Engine.Generation.Constraints;

[Flags]
internal enum JsonTypes : byte
{
    None = 0,
    Null = 1,
    Boolean = 2,
    Integer = 4,
    Number = 8,
    String = 16,
    Array = 32,
    Object = 64,
    Scalars = Null | Boolean | Integer | Number | String,
    All = 127,
}

/// <summary>A JSON Schema compiled into the form the recogniser walks. Immutable once compiled.</summary>
internal sealed class JsonSchemaNode
{
    public JsonTypes Types = JsonTypes.All;

    /// <summary>Canonical compact JSON texts a value may also be (enum/const), each a kind not covered by <see cref="Types"/>.</summary>
    public string[]? Literals;

    public int MinLength;
    public int MaxLength = int.MaxValue;
    /// <summary>Character-class template for a supported string <c>format</c> (see <see cref="JsonMachine"/>), or null.</summary>
    public string? Format;
    public bool FormatAllowsZ;

    public JsonSchemaNode Items = null!;
    public int MinItems;
    public int MaxItems = int.MaxValue;

    /// <summary>Only the listed property keys may be produced, in schema order.</summary>
    public bool KeysConstrained;
    /// <summary>Escaped property names followed by the closing quote (a prefix-free set).</summary>
    public string[] PropertyKeys = [];
    public JsonSchemaNode[] PropertySchemas = [];
    /// <summary>NextRequired[i] = first required property index at or after i, or the property count. Length count + 1.</summary>
    public int[] NextRequired = [0];
    /// <summary>Value schema for free (unconstrained) keys.</summary>
    public JsonSchemaNode Additional = null!;

    public static JsonSchemaNode CreateAny()
    {
        var any = new JsonSchemaNode();
        any.Items = any;
        any.Additional = any;
        return any;
    }

    internal void CopyFrom(JsonSchemaNode o)
    {
        Types = o.Types; Literals = o.Literals; MinLength = o.MinLength; MaxLength = o.MaxLength; Format = o.Format; FormatAllowsZ = o.FormatAllowsZ;
        Items = o.Items; MinItems = o.MinItems; MaxItems = o.MaxItems; KeysConstrained = o.KeysConstrained;
        PropertyKeys = o.PropertyKeys; PropertySchemas = o.PropertySchemas; NextRequired = o.NextRequired; Additional = o.Additional;
    }

    // ---- canonical JSON text (compact, ASCII-only so any vocabulary can spell it) ----

    internal static string EscapeString(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        AppendEscaped(sb, s);
        return sb.ToString();
    }

    internal static void AppendEscaped(StringBuilder sb, string s) => JsonEscaping.Append(sb, s, asciiOnly: true);

    internal static void AppendCanonical(StringBuilder sb, JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                sb.Append('{');
                var first = true;
                foreach (var p in e.EnumerateObject())
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append('"');
                    AppendEscaped(sb, p.Name);
                    sb.Append("\":");
                    AppendCanonical(sb, p.Value);
                }
                sb.Append('}');
                break;
            case JsonValueKind.Array:
                sb.Append('[');
                var f = true;
                foreach (var item in e.EnumerateArray())
                {
                    if (!f) sb.Append(',');
                    f = false;
                    AppendCanonical(sb, item);
                }
                sb.Append(']');
                break;
            case JsonValueKind.String:
                sb.Append('"');
                AppendEscaped(sb, e.GetString()!);
                sb.Append('"');
                break;
            case JsonValueKind.Number: sb.Append(e.GetRawText()); break;
            case JsonValueKind.True: sb.Append("true"); break;
            case JsonValueKind.False: sb.Append("false"); break;
            default: sb.Append("null"); break;
        }
    }

    /// <summary>The JSON type a canonical literal text belongs to.</summary>
    internal static JsonTypes KindOf(string literal) => literal[0] switch
    {
        '"' => JsonTypes.String,
        '{' => JsonTypes.Object,
        '[' => JsonTypes.Array,
        't' or 'f' => JsonTypes.Boolean,
        'n' => JsonTypes.Null,
        _ => literal.AsSpan().IndexOfAny('.', 'e', 'E') >= 0 ? JsonTypes.Number : JsonTypes.Integer,
    };
}

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
