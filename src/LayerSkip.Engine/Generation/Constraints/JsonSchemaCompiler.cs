using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>Compiles a JSON Schema (<see cref="JsonElement"/>) into <see cref="JsonSchemaNode"/>s. Keywords outside the
/// supported subset are ignored; constructs that would make the grammar wrong (an unknown <c>type</c>, an empty
/// <c>enum</c>, a <c>$ref</c> that cannot be resolved or only refers to itself, the <c>false</c> schema) throw an
/// <see cref="ArgumentException"/> naming the construct and where it is.</summary>
/// <remarks>In strict mode (the default, as in OpenAI's strict structured outputs) an object schema without
/// <c>additionalProperties</c> is closed: only its listed properties may appear, so <c>"properties": {}</c> (or no
/// <c>properties</c> at all) means exactly <c>{}</c>. Non-strict mode keeps an object without listed properties
/// open to any keys.</remarks>
internal sealed class JsonSchemaCompiler
{
    private readonly JsonElement _root;
    private readonly bool _strict;
    private readonly Dictionary<string, JsonSchemaNode> _refs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _resolving = new(StringComparer.Ordinal);
    private readonly JsonSchemaNode _any = JsonSchemaNode.CreateAny();
    private int _budget = 100_000;

    private JsonSchemaCompiler(JsonElement root, bool strict)
    {
        _root = root;
        _strict = strict;
    }

    /// <summary>Compiles <paramref name="schema"/>; null means any JSON value.</summary>
    /// <exception cref="ArgumentException">The schema uses a construct the constraint cannot honour.</exception>
    public static JsonSchemaNode Compile(JsonElement? schema, bool strict = true)
    {
        if (schema is not { } s) return JsonSchemaNode.CreateAny();
        var c = new JsonSchemaCompiler(s, strict);
        return c.Compile(s, 0, "#");
    }

    /// <summary>A JSON object with any keys (schema-less JSON mode: a document, never a bare scalar).</summary>
    public static JsonSchemaNode AnyObject()
    {
        var any = JsonSchemaNode.CreateAny();
        var node = new JsonSchemaNode { Types = JsonTypes.Object, Items = any, Additional = any };
        return node;
    }

    /// <summary>
    /// A discriminated union of objects <c>{"name": N, argumentsKey: arguments of N}</c>, one per function: the name
    /// is one of the functions' names and, once written, the arguments follow that function's own schema.
    /// </summary>
    public static JsonSchemaNode FunctionCall(IReadOnlyList<(string Name, JsonElement Schema, bool Strict)> functions, string argumentsKey)
    {
        if (functions.Count == 0) throw new ArgumentException("A function call needs at least one function.", nameof(functions));
        var nameKey = JsonSchemaNode.EscapeString("name") + "\"";
        var argsKey = JsonSchemaNode.EscapeString(argumentsKey) + "\"";
        var variants = new Dictionary<string, JsonSchemaNode>(StringComparer.Ordinal);
        foreach (var (name, schema, strict) in functions)
        {
            JsonSchemaNode arguments;
            try { arguments = Compile(schema, strict); }
            catch (ArgumentException e) { throw new ArgumentException($"The parameters schema of function '{name}' is not supported: {e.Message}", nameof(functions), e); }
            if ((arguments.Types & JsonTypes.Object) == 0 && arguments.Literals is null)
                throw new ArgumentException($"The parameters schema of function '{name}' must describe an object.", nameof(functions));
            var literal = "\"" + JsonSchemaNode.EscapeString(name) + "\"";
            if (variants.ContainsKey(literal)) throw new ArgumentException($"Two functions are named '{name}'.", nameof(functions));
            variants[literal] = new JsonSchemaNode
            {
                Types = JsonTypes.Object,
                KeysConstrained = true,
                PropertyKeys = [nameKey, argsKey],
                PropertySchemas = [new JsonSchemaNode { Types = JsonTypes.None, Literals = [literal] }, arguments],
                NextRequired = [0, 1, 2],
                Items = arguments.Items ?? JsonSchemaNode.CreateAny(),
                Additional = arguments.Additional ?? JsonSchemaNode.CreateAny(),
            };
        }
        if (variants.Count == 1) return variants.Values.Single();
        return Discriminated(nameKey, variants);
    }

    private static JsonSchemaNode Discriminated(string key, Dictionary<string, JsonSchemaNode> variants)
    {
        var any = JsonSchemaNode.CreateAny();
        return new JsonSchemaNode
        {
            Types = JsonTypes.Object,
            KeysConstrained = true,
            PropertyKeys = [key],
            PropertySchemas = [new JsonSchemaNode { Types = JsonTypes.None, Literals = [.. variants.Keys], Items = any, Additional = any }],
            NextRequired = [0, 1],
            Variants = variants,
            Items = any,
            Additional = any,
        };
    }

    private JsonSchemaNode Compile(JsonElement e, int depth, string path)
    {
        if (e.ValueKind == JsonValueKind.False) throw new ArgumentException($"The schema 'false' at {path} allows no value.");
        if (e.ValueKind != JsonValueKind.Object || depth > 64 || --_budget < 0) return _any;
        if (e.TryGetProperty("$ref", out var r) && r.ValueKind == JsonValueKind.String)
            return ResolveRef(r.GetString()!, depth, path);
        var node = new JsonSchemaNode();
        Fill(node, e, depth, path);
        return node;
    }

    private JsonSchemaNode ResolveRef(string reference, int depth, string path)
    {
        if (_refs.TryGetValue(reference, out var cached)) return cached;
        if (!reference.StartsWith('#'))
            throw new ArgumentException($"The $ref '{reference}' at {path} points outside the schema; only local references (#/...) are supported.");
        if (!TryResolvePointer(reference.AsSpan(1), out var target))
            throw new ArgumentException($"The $ref '{reference}' at {path} does not resolve to anything in the schema.");
        _resolving.Add(reference);
        var node = new JsonSchemaNode();
        _refs[reference] = node; // registered before filling so recursive schemas terminate
        if (target.ValueKind == JsonValueKind.Object && target.TryGetProperty("$ref", out var inner) && inner.ValueKind == JsonValueKind.String)
        {
            if (_resolving.Contains(inner.GetString()!))
                throw new ArgumentException($"The $ref '{reference}' at {path} only refers to itself.");
        }
        if (target.ValueKind == JsonValueKind.Object && target.TryGetProperty("$ref", out inner) && inner.ValueKind == JsonValueKind.String)
            node.CopyFrom(ResolveRef(inner.GetString()!, depth + 1, reference));
        else if (target.ValueKind == JsonValueKind.Object)
            Fill(node, target, depth + 1, reference);
        else if (target.ValueKind == JsonValueKind.False)
            throw new ArgumentException($"The $ref '{reference}' at {path} points to the schema 'false', which allows no value.");
        else
            node.CopyFrom(_any);
        _resolving.Remove(reference);
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

    private void Fill(JsonSchemaNode node, JsonElement e, int depth, string path)
    {
        foreach (var unionKeyword in (ReadOnlySpan<string>)["anyOf", "oneOf"])
        {
            if (e.TryGetProperty(unionKeyword, out var alts) && alts.ValueKind == JsonValueKind.Array && alts.GetArrayLength() > 0)
            {
                var compiled = new List<JsonSchemaNode>();
                var k = 0;
                foreach (var alt in alts.EnumerateArray()) compiled.Add(Compile(alt, depth + 1, $"{path}/{unionKeyword}/{k++}"));
                Merge(node, compiled);
                return;
            }
        }
        if (e.TryGetProperty("allOf", out var all) && all.ValueKind == JsonValueKind.Array && all.GetArrayLength() == 1
            && !e.TryGetProperty("type", out _) && !e.TryGetProperty("properties", out _))
        {
            node.CopyFrom(Compile(all[0], depth + 1, path + "/allOf/0"));
            return;
        }

        var hasType = false;
        if (e.TryGetProperty("type", out var type))
        {
            var mask = JsonTypes.None;
            if (type.ValueKind == JsonValueKind.String) mask = ParseType(type.GetString(), path);
            else if (type.ValueKind == JsonValueKind.Array)
                foreach (var t in type.EnumerateArray())
                    if (t.ValueKind == JsonValueKind.String) mask |= ParseType(t.GetString(), path);
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
            if (literals.Count == 0)
                throw new ArgumentException($"The enum at {path} allows no value{(hasType ? " of the declared type" : "")}.");
            node.Types = JsonTypes.None;
            node.Literals = [.. literals];
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
        node.Items = e.TryGetProperty("items", out var items) ? Compile(items, depth + 1, path + "/items") : _any;
        node.MinItems = GetCount(e, "minItems", 0);
        node.MaxItems = Math.Max(node.MinItems, GetCount(e, "maxItems", int.MaxValue));

        // object
        node.Additional = _any;
        // strict: an object schema that does not open itself to more keys is closed
        var declaresObject = hasType && (node.Types & JsonTypes.Object) != 0
            || e.TryGetProperty("properties", out var declared) && declared.ValueKind == JsonValueKind.Object;
        var additionalFalse = _strict && declaresObject;
        if (e.TryGetProperty("additionalProperties", out var ap))
        {
            additionalFalse = ap.ValueKind == JsonValueKind.False;
            if (ap.ValueKind == JsonValueKind.Object) node.Additional = Compile(ap, depth + 1, path + "/additionalProperties");
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
                schemas.Add(Compile(p.Value, depth + 1, $"{path}/properties/{p.Name}"));
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
        obj = TryDiscriminate(alts) ?? obj;
        if (obj != null)
        {
            node.Variants = obj.Variants;
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

    /// <summary>Several object alternatives that all start with the same required property holding distinct constants
    /// (a tagged union) become one discriminated node; otherwise null (the first object alternative is used).</summary>
    private static JsonSchemaNode? TryDiscriminate(List<JsonSchemaNode> alts)
    {
        var objects = alts.Where(a => (a.Types & JsonTypes.Object) != 0).ToList();
        if (objects.Count < 2) return null;
        var variants = new Dictionary<string, JsonSchemaNode>(StringComparer.Ordinal);
        var key = objects[0].PropertyKeys.FirstOrDefault();
        foreach (var o in objects)
        {
            if (o.Types != JsonTypes.Object || !o.KeysConstrained || o.Variants != null || o.PropertyKeys.Length == 0
                || o.PropertyKeys[0] != key || o.NextRequired[0] != 0) return null;
            var tag = o.PropertySchemas[0];
            if (tag.Types != JsonTypes.None || tag.Literals is not { Length: > 0 } literals) return null;
            foreach (var l in literals)
                if (l[0] != '"' || !variants.TryAdd(l, o)) return null;
        }
        return Discriminated(key!, variants);
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

    private static JsonTypes ParseType(string? t, string path) => t switch
    {
        "null" => JsonTypes.Null,
        "boolean" => JsonTypes.Boolean,
        "integer" => JsonTypes.Integer,
        "number" => JsonTypes.Number | JsonTypes.Integer,
        "string" => JsonTypes.String,
        "array" => JsonTypes.Array,
        "object" => JsonTypes.Object,
        _ => throw new ArgumentException($"The type '{t}' at {path} is not a JSON Schema type (null, boolean, integer, number, string, array, object)."),
    };

    private static int GetCount(JsonElement e, string name, int fallback)
    {
        if (e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d >= 0)
            return d >= int.MaxValue ? int.MaxValue : (int)Math.Ceiling(d);
        return fallback;
    }
}
