using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LayerSkip.Templates;

/// <summary>A host function callable from a template; arguments arrive as plain .NET values (null, bool, long, double, string, List, Dictionary).</summary>
internal delegate object? TemplateFunction(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);

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

internal sealed class UndefinedValue : Value
{
    public static readonly UndefinedValue Instance = new(null);

    public UndefinedValue(string? hint) => Hint = hint;

    /// <summary>What was looked up, for error messages.</summary>
    public string? Hint { get; }

    public override bool IsTruthy => false;

    public override string TypeName => "undefined";

    public override bool Equals(object? obj) => obj is UndefinedValue;

    public override int GetHashCode() => 0x5eed;
}

internal sealed class NoneValue : Value
{
    public static readonly NoneValue Instance = new();

    public override bool IsTruthy => false;

    public override string TypeName => "NoneType";

    public override bool Equals(object? obj) => obj is NoneValue;

    public override int GetHashCode() => 0x0e0e;
}

internal sealed class BoolValue : Value
{
    public static readonly BoolValue True = new(true);
    public static readonly BoolValue False = new(false);

    private BoolValue(bool v) => V = v;

    public bool V { get; }

    public override bool IsTruthy => V;

    public override string TypeName => "bool";

    public override object? ToObject() => V;

    public override bool Equals(object? obj) => obj is BoolValue b && b.V == V;

    public override int GetHashCode() => V ? 1 : 0;
}

internal sealed class IntValue(long v) : Value
{
    public long V { get; } = v;

    public override bool IsTruthy => V != 0;

    public override string TypeName => "int";

    public override object? ToObject() => V;

    public override bool Equals(object? obj) => obj switch
    {
        IntValue i => i.V == V,
        FloatValue f => f.V == V,
        _ => false,
    };

    public override int GetHashCode() => ((double)V).GetHashCode();
}

internal sealed class FloatValue(double v) : Value
{
    public double V { get; } = v;

    public override bool IsTruthy => V != 0;

    public override string TypeName => "float";

    public override object? ToObject() => V;

    public override bool Equals(object? obj) => obj switch
    {
        IntValue i => i.V == V,
        FloatValue f => f.V == V,
        _ => false,
    };

    public override int GetHashCode() => V.GetHashCode();
}

internal sealed class StringValue(string v) : Value
{
    public static readonly StringValue Empty = new("");

    public string V { get; } = v;

    public override bool IsTruthy => V.Length != 0;

    public override string TypeName => "str";

    public override object? ToObject() => V;

    public override bool Equals(object? obj) => obj is StringValue s && string.Equals(s.V, V, StringComparison.Ordinal);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(V);
}

/// <summary>A Python list (or tuple, when <see cref="IsTuple"/>).</summary>
internal sealed class ListValue : Value
{
    public ListValue() => Items = [];

    public ListValue(List<Value> items, bool isTuple = false)
    {
        Items = items;
        IsTuple = isTuple;
    }

    public List<Value> Items { get; }

    public bool IsTuple { get; }

    public override bool IsTruthy => Items.Count != 0;

    public override string TypeName => IsTuple ? "tuple" : "list";

    public override object? ToObject() => Items.Select(i => i.ToObject()).ToList();

    public override bool Equals(object? obj) =>
        obj is ListValue l && l.Items.Count == Items.Count && Items.Zip(l.Items).All(p => p.First.Equals(p.Second));

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var i in Items) h.Add(i);
        return h.ToHashCode();
    }
}

/// <summary>An insertion-ordered Python dict.</summary>
internal class DictValue : Value
{
    public OrderedDictionary<Value, Value> Map { get; } = new();

    public void Set(Value key, Value value) => Map[key] = value;

    public Value Get(Value key) => Map.TryGetValue(key, out var v) ? v : Undefined();

    public Value Get(string key) => Get(new StringValue(key));

    public override bool IsTruthy => Map.Count != 0;

    public override string TypeName => "dict";

    public override object? ToObject()
    {
        var d = new Dictionary<string, object?>();
        foreach (var kv in Map) d[Python.Str(kv.Key)] = kv.Value.ToObject();
        return d;
    }

    public override bool Equals(object? obj)
    {
        if (obj is not DictValue d || d is NamespaceValue != this is NamespaceValue || d.Map.Count != Map.Count) return false;
        foreach (var kv in Map)
            if (!d.Map.TryGetValue(kv.Key, out var other) || !other.Equals(kv.Value)) return false;
        return true;
    }

    public override int GetHashCode() => Map.Count;
}

/// <summary>Jinja's <c>namespace()</c>: a mutable attribute bag that survives scopes.</summary>
internal sealed class NamespaceValue : DictValue
{
    public override bool IsTruthy => true;

    public override string TypeName => "Namespace";

    public override bool Equals(object? obj) => ReferenceEquals(this, obj);

    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
}

/// <summary>Positional and keyword arguments of a call.</summary>
internal sealed class CallArgs(List<Value> positional, List<KeyValuePair<string, Value>> keywords)
{
    public static readonly CallArgs Empty = new([], []);

    public List<Value> Positional { get; } = positional;

    public List<KeyValuePair<string, Value>> Keywords { get; } = keywords;

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else <paramref name="fallback"/> (undefined when null).</summary>
    public Value Get(int index, string name, Value? fallback = null)
    {
        foreach (var kv in Keywords)
            if (kv.Key == name) return kv.Value;
        if (index >= 0 && index < Positional.Count) return Positional[index];
        return fallback ?? Value.Undefined();
    }

    public bool Has(int index, string name) => (index >= 0 && index < Positional.Count) || Keywords.Any(k => k.Key == name);
}

internal sealed class CallableValue(string name, Func<CallArgs, Value> invoke) : Value
{
    public string Name { get; } = name;

    public Func<CallArgs, Value> Invoke { get; } = invoke;

    public override bool IsTruthy => true;

    public override string TypeName => "function";

    public static CallableValue FromHost(TemplateFunction f) => new(f.Method.Name, args =>
    {
        var kw = new Dictionary<string, object?>();
        foreach (var kv in args.Keywords) kw[kv.Key] = kv.Value.ToObject();
        return From(f(args.Positional.Select(p => p.ToObject()).ToList(), kw));
    });
}

/// <summary>The <c>loop</c> variable inside a for loop.</summary>
internal sealed class LoopValue(List<Value> items) : Value
{
    public int Index0 { get; set; }

    public int Length => items.Count;

    public override bool IsTruthy => true;

    public override string TypeName => "LoopContext";

    public Value GetAttribute(string name) => name switch
    {
        "index" => Int(Index0 + 1),
        "index0" => Int(Index0),
        "revindex" => Int(Length - Index0),
        "revindex0" => Int(Length - Index0 - 1),
        "first" => Bool(Index0 == 0),
        "last" => Bool(Index0 == Length - 1),
        "length" => Int(Length),
        "depth" => Int(1),
        "depth0" => Int(0),
        "previtem" => Index0 > 0 ? items[Index0 - 1] : Undefined("loop.previtem"),
        "nextitem" => Index0 + 1 < Length ? items[Index0 + 1] : Undefined("loop.nextitem"),
        "cycle" => new CallableValue("loop.cycle", a =>
            a.Positional.Count == 0 ? throw new TemplateException("loop.cycle() needs at least one argument") : a.Positional[Index0 % a.Positional.Count]),
        _ => Undefined("loop." + name),
    };
}
