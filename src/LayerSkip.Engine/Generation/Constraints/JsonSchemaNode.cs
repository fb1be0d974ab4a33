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
    /// <summary>A discriminated union of objects: the first property's value (a canonical literal) picks the object
    /// schema that governs the rest of the object (e.g. a tool call's name picks its arguments' schema).</summary>
    public Dictionary<string, JsonSchemaNode>? Variants;
    /// <summary>The shortest complete value of this schema (compact JSON), filled by <see cref="JsonMinimalValues"/>.</summary>
    public string? MinimalText;

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
        PropertyKeys = o.PropertyKeys; PropertySchemas = o.PropertySchemas; NextRequired = o.NextRequired; Additional = o.Additional; Variants = o.Variants;
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
