using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LayerSkip.Templates;

/// <summary>Runtime value of the template language: a small Python-like object model.</summary>
internal abstract class Value
{
    public abstract bool IsTruthy { get; }

    public abstract string TypeName { get; }

    public static readonly Value None = NoneValue.Instance;

    public static Value Undefined(string? hint = null) => hint is null ? UndefinedValue.Instance : new UndefinedValue(hint);

    public static Value Bool(bool b) => b ? BoolValue.True : BoolValue.False;

    public static Value Int(long i) => new IntValue(i);

    public static Value Float(double d) => new FloatValue(d);

    public static Value Str(string s) => new StringValue(s);

    /// <summary>Converts a .NET object (primitives, dictionaries, enumerables, JsonElement/JsonNode, POCOs) into a template value.</summary>
    public static Value From(object? o) => From(o, 0);

    private static Value From(object? o, int depth)
    {
        if (depth > 64) throw new TemplateException("Input object graph is too deep (cycle?)");
        switch (o)
        {
            case null: return None;
            case Value v: return v;
            case string s: return new StringValue(s);
            case bool b: return Bool(b);
            case char c: return new StringValue(c.ToString());
            case int or long or short or sbyte or byte or ushort or uint:
                return new IntValue(Convert.ToInt64(o, CultureInfo.InvariantCulture));
            case ulong ul: return ul <= long.MaxValue ? new IntValue((long)ul) : new FloatValue(ul);
            case float or double or decimal or Half:
                return new FloatValue(Convert.ToDouble(o, CultureInfo.InvariantCulture));
            case Enum e: return new StringValue(e.ToString());
            case JsonElement je: return FromJson(je);
            case JsonNode jn: return FromJsonNode(jn, depth);
            case TemplateFunction f: return CallableValue.FromHost(f);
            case IDictionary<string, object?> gd:
            {
                var d = new DictValue();
                foreach (var kv in gd) d.Set(new StringValue(kv.Key), From(kv.Value, depth + 1));
                return d;
            }
            case IReadOnlyDictionary<string, object?> rd:
            {
                var d = new DictValue();
                foreach (var kv in rd) d.Set(new StringValue(kv.Key), From(kv.Value, depth + 1));
                return d;
            }
            case IDictionary nd:
            {
                var d = new DictValue();
                foreach (DictionaryEntry kv in nd) d.Set(From(kv.Key, depth + 1), From(kv.Value, depth + 1));
                return d;
            }
            case IEnumerable en:
            {
                var l = new ListValue();
                foreach (var item in en) l.Items.Add(From(item, depth + 1));
                return l;
            }
            case DateTime or DateTimeOffset or Guid or TimeSpan or Uri:
                return new StringValue(Convert.ToString(o, CultureInfo.InvariantCulture) ?? "");
            default:
            {
                var d = new DictValue();
                foreach (var p in o.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
                {
                    if (p.GetIndexParameters().Length != 0 || !p.CanRead) continue;
                    d.Set(new StringValue(p.Name), From(p.GetValue(o), depth + 1));
                }
                return d;
            }
        }
    }

    public static Value FromJson(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
            {
                var d = new DictValue();
                foreach (var p in e.EnumerateObject()) d.Set(new StringValue(p.Name), FromJson(p.Value));
                return d;
            }
            case JsonValueKind.Array:
            {
                var l = new ListValue();
                foreach (var item in e.EnumerateArray()) l.Items.Add(FromJson(item));
                return l;
            }
            case JsonValueKind.String: return new StringValue(e.GetString()!);
            case JsonValueKind.Number:
                return e.TryGetInt64(out var i) ? new IntValue(i) : new FloatValue(e.GetDouble());
            case JsonValueKind.True: return BoolValue.True;
            case JsonValueKind.False: return BoolValue.False;
            case JsonValueKind.Null: return None;
            default: return Undefined();
        }
    }

    private static Value FromJsonNode(JsonNode n, int depth)
    {
        switch (n)
        {
            case JsonObject obj:
            {
                var d = new DictValue();
                foreach (var kv in obj) d.Set(new StringValue(kv.Key), kv.Value is null ? None : FromJsonNode(kv.Value, depth + 1));
                return d;
            }
            case JsonArray arr:
            {
                var l = new ListValue();
                foreach (var item in arr) l.Items.Add(item is null ? None : FromJsonNode(item, depth + 1));
                return l;
            }
            default:
                if (n.AsValue().TryGetValue<JsonElement>(out var je)) return FromJson(je);
                using (var doc = JsonDocument.Parse(n.ToJsonString())) return FromJson(doc.RootElement);
        }
    }

    /// <summary>Converts back to plain .NET objects (for host functions).</summary>
    public virtual object? ToObject() => null;

    public override string ToString() => Python.Str(this);
}
