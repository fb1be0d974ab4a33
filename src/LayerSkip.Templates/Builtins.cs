using System.Globalization;
using System.Text;

namespace LayerSkip.Templates;

/// <summary>Operators, attribute/item access, filters, tests, methods and global functions.</summary>
internal sealed partial class Builtins(TemplateOptions options)
{
    /// <summary>Jinja's sandbox cap on range().</summary>
    private const int MaxRange = 100_000;

    /// <summary>namespace(...) and dict(...): positional dicts, then keyword arguments, merged in order.</summary>
    private static void MergeArguments(CallArgs args, string function, Action<Value, Value> set)
    {
        foreach (var p in args.Positional)
        {
            if (p is not DictValue d) throw new TemplateException($"{function}() positional arguments must be dicts");
            foreach (var kv in d.Map) set(kv.Key, kv.Value);
        }
        foreach (var kv in args.Keywords) set(new StringValue(kv.Key), kv.Value);
    }

    public void AddGlobals(Scope globals)
    {
        globals.Set("namespace", new CallableValue("namespace", args =>
        {
            var ns = new NamespaceValue();
            MergeArguments(args, "namespace", ns.Set);
            return ns;
        }));
        globals.Set("range", new CallableValue("range", args =>
        {
            var a = args.Positional.Select(ToInt).ToList();
            var (start, stop, step) = a.Count switch
            {
                1 => (0L, a[0], 1L),
                2 => (a[0], a[1], 1L),
                3 => (a[0], a[1], a[2]),
                _ => throw new TemplateException("range() expects 1 to 3 integer arguments"),
            };
            if (step == 0) throw new TemplateException("range() arg 3 must not be zero");
            var list = new List<Value>();
            for (var i = start; step > 0 ? i < stop : i > stop; i += step)
            {
                if (list.Count >= MaxRange) throw new TemplateException($"range() too big (more than {MaxRange} items)");
                list.Add(Value.Int(i));
            }
            return new ListValue(list);
        }));
        globals.Set("raise_exception", new CallableValue("raise_exception", args =>
            throw new TemplateRaisedException(Python.Str(args.Get(0, "message", StringValue.Empty)))));
        globals.Set("strftime_now", new CallableValue("strftime_now", args =>
            Value.Str(Strftime((options.Clock ?? (() => DateTimeOffset.Now))(), Python.Str(args.Get(0, "format", StringValue.Empty))))));
        globals.Set("dict", new CallableValue("dict", args =>
        {
            var d = new DictValue();
            MergeArguments(args, "dict", d.Set);
            return d;
        }));
        globals.Set("true", Value.Bool(true));
        globals.Set("false", Value.Bool(false));
        globals.Set("none", Value.None);
    }

    // ---------------- access ----------------

    public Value GetAttr(Value obj, string name)
    {
        switch (obj)
        {
            case LoopValue loop:
                return loop.GetAttribute(name);
            case NamespaceValue ns:
                return ns.Get(name);
            case DictValue d:
                return name switch
                {
                    "items" => Method(name, _ => new ListValue(d.Map.Select(kv => (Value)new ListValue([kv.Key, kv.Value], isTuple: true)).ToList())),
                    "keys" => Method(name, _ => new ListValue([.. d.Map.Keys])),
                    "values" => Method(name, _ => new ListValue([.. d.Map.Values])),
                    "get" => Method(name, a =>
                    {
                        var key = a.Get(0, "key");
                        return d.Map.TryGetValue(key, out var v) ? v : a.Get(1, "default", Value.None);
                    }),
                    _ => d.Map.TryGetValue(new StringValue(name), out var v) ? v : Value.Undefined(name),
                };
            case StringValue s:
                return StringMethod(s.V, name) ?? Value.Undefined(name);
            case UndefinedValue u:
                return Value.Undefined(u.Hint is null ? name : u.Hint + "." + name);
            default:
                return Value.Undefined(name);
        }
    }

    private static CallableValue Method(string name, Func<CallArgs, Value> f) => new(name, f);

    public static Value GetItem(Value obj, Value key)
    {
        switch (obj)
        {
            case LoopValue loop when key is StringValue ks:
                return loop.GetAttribute(ks.V);
            case DictValue d:
                return d.Map.TryGetValue(key, out var v) ? v : Value.Undefined(Python.Str(key));
            case ListValue l when key is IntValue or BoolValue:
            {
                var i = ToInt(key);
                if (i < 0) i += l.Items.Count;
                return i >= 0 && i < l.Items.Count ? l.Items[(int)i] : Value.Undefined();
            }
            case StringValue s when key is IntValue or BoolValue:
            {
                var cps = CodePoints(s.V);
                var i = ToInt(key);
                if (i < 0) i += cps.Length;
                return i >= 0 && i < cps.Length ? Value.Str(cps[i]) : Value.Undefined();
            }
            default:
                return Value.Undefined();
        }
    }

    public static Value Slice(Value obj, Value? start, Value? stop, Value? step)
    {
        long? Opt(Value? v) => v is null or NoneValue ? null : ToInt(v);
        var st = Opt(step) ?? 1;
        if (st == 0) throw new TemplateException("slice step cannot be zero");
        switch (obj)
        {
            case ListValue l:
                return new ListValue(SliceList(l.Items, Opt(start), Opt(stop), st), l.IsTuple);
            case StringValue s:
                return Value.Str(string.Concat(SliceList(CodePoints(s.V).ToList(), Opt(start), Opt(stop), st)));
            case UndefinedValue:
                return Value.Undefined();
            default:
                throw new TemplateException($"'{obj.TypeName}' object is not subscriptable");
        }
    }

    private static List<T> SliceList<T>(List<T> items, long? start, long? stop, long step)
    {
        var n = items.Count;
        long Clamp(long? v, long def, long lo, long hi)
        {
            if (v is null) return def;
            var x = v.Value < 0 ? v.Value + n : v.Value;
            return Math.Clamp(x, lo, hi);
        }
        var result = new List<T>();
        if (step > 0)
        {
            var a = Clamp(start, 0, 0, n);
            var b = Clamp(stop, n, 0, n);
            for (var i = a; i < b; i += step) result.Add(items[(int)i]);
        }
        else
        {
            var a = Clamp(start, n - 1, -1, n - 1);
            var b = Clamp(stop, -1, -1, n - 1);
            for (var i = a; i > b; i += step) result.Add(items[(int)i]);
        }
        return result;
    }

    private static string[] CodePoints(string s)
    {
        var hasSurrogates = false;
        foreach (var c in s)
            if (char.IsSurrogate(c)) { hasSurrogates = true; break; }
        if (!hasSurrogates) return s.Select(c => c.ToString()).ToArray();
        return s.EnumerateRunes().Select(r => r.ToString()).ToArray();
    }

    private static int Len(string s)
    {
        var n = 0;
        foreach (var _ in s.EnumerateRunes()) n++;
        return n;
    }

    /// <summary>The items a for loop sees: list items, dict keys, string characters; undefined iterates as empty.</summary>
    public static List<Value> Iterate(Value v) => v switch
    {
        ListValue l => l.Items,
        NamespaceValue => throw new TemplateException("'Namespace' object is not iterable"),
        DictValue d => [.. d.Map.Keys],
        StringValue s => CodePoints(s.V).Select(c => (Value)new StringValue(c)).ToList(),
        UndefinedValue => [],
        _ => throw new TemplateException($"'{v.TypeName}' object is not iterable"),
    };

    // ---------------- operators ----------------

    public static long ToInt(Value v) => v switch
    {
        IntValue i => i.V,
        BoolValue b => b.V ? 1 : 0,
        FloatValue f when f.V == Math.Floor(f.V) => (long)f.V,
        _ => throw new TemplateException($"expected an integer, got {v.TypeName}"),
    };

    public static Value Negate(Value v) => v switch
    {
        IntValue i => Value.Int(-i.V),
        FloatValue f => Value.Float(-f.V),
        BoolValue b => Value.Int(b.V ? -1 : 0),
        _ => throw new TemplateException($"bad operand type for unary -: '{v.TypeName}'"),
    };

    private static bool BothInts(Value a, Value b) => a is IntValue or BoolValue && b is IntValue or BoolValue;

    private static void CheckDefined(Value a, Value b, string op)
    {
        if (a is UndefinedValue ua) throw new TemplateException($"'{ua.Hint ?? "value"}' is undefined (operator {op})");
        if (b is UndefinedValue ub) throw new TemplateException($"'{ub.Hint ?? "value"}' is undefined (operator {op})");
    }

    public static Value Binary(string op, Value a, Value b)
    {
        if (op == "~") return Value.Str(Python.Str(a) + Python.Str(b));
        CheckDefined(a, b, op);
        switch (op)
        {
            case "+":
                if (a is StringValue sa && b is StringValue sb) return Value.Str(sa.V + sb.V);
                if (a is ListValue la && b is ListValue lb) return new ListValue([.. la.Items, .. lb.Items], la.IsTuple);
                if (BothInts(a, b)) return Value.Int(ToInt(a) + ToInt(b));
                if (Python.IsNumber(a) && Python.IsNumber(b)) return Value.Float(Python.ToDouble(a) + Python.ToDouble(b));
                break;
            case "-":
                if (BothInts(a, b)) return Value.Int(ToInt(a) - ToInt(b));
                if (Python.IsNumber(a) && Python.IsNumber(b)) return Value.Float(Python.ToDouble(a) - Python.ToDouble(b));
                break;
            case "*":
                if (BothInts(a, b)) return Value.Int(ToInt(a) * ToInt(b));
                if (Python.IsNumber(a) && Python.IsNumber(b)) return Value.Float(Python.ToDouble(a) * Python.ToDouble(b));
                if (a is StringValue rs && b is IntValue or BoolValue) return Value.Str(Repeat(rs.V, ToInt(b)));
                if (b is StringValue rs2 && a is IntValue or BoolValue) return Value.Str(Repeat(rs2.V, ToInt(a)));
                if (a is ListValue rl && b is IntValue or BoolValue)
                    return new ListValue(Enumerable.Repeat(rl.Items, (int)Math.Max(0, ToInt(b))).SelectMany(x => x).ToList(), rl.IsTuple);
                break;
            case "/":
                if (Python.IsNumber(a) && Python.IsNumber(b))
                {
                    var d = Python.ToDouble(b);
                    if (d == 0) throw new TemplateException("division by zero");
                    return Value.Float(Python.ToDouble(a) / d);
                }
                break;
            case "//":
                if (BothInts(a, b))
                {
                    var d = ToInt(b);
                    if (d == 0) throw new TemplateException("integer division or modulo by zero");
                    return Value.Int((long)Math.Floor((double)ToInt(a) / d));
                }
                if (Python.IsNumber(a) && Python.IsNumber(b))
                {
                    var d = Python.ToDouble(b);
                    if (d == 0) throw new TemplateException("float floor division by zero");
                    return Value.Float(Math.Floor(Python.ToDouble(a) / d));
                }
                break;
            case "%":
                if (BothInts(a, b))
                {
                    var d = ToInt(b);
                    if (d == 0) throw new TemplateException("integer division or modulo by zero");
                    var m = ToInt(a) % d;
                    return Value.Int(m != 0 && (m < 0) != (d < 0) ? m + d : m);
                }
                if (Python.IsNumber(a) && Python.IsNumber(b))
                {
                    var x = Python.ToDouble(a);
                    var d = Python.ToDouble(b);
                    if (d == 0) throw new TemplateException("float modulo");
                    return Value.Float(x - d * Math.Floor(x / d));
                }
                if (a is StringValue fmt) return Value.Str(PercentFormat(fmt.V, b));
                break;
            case "**":
                if (BothInts(a, b) && ToInt(b) >= 0) return Value.Int((long)Math.Pow(ToInt(a), ToInt(b)));
                if (Python.IsNumber(a) && Python.IsNumber(b)) return Value.Float(Math.Pow(Python.ToDouble(a), Python.ToDouble(b)));
                break;
        }
        throw new TemplateException($"unsupported operand type(s) for {op}: '{a.TypeName}' and '{b.TypeName}'");
    }

    private static string Repeat(string s, long n) => n <= 0 ? "" : new StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString();

    /// <summary>Minimal printf-style <c>'%s' % x</c> (supports %s, %d, %i, %r, %%).</summary>
    private static string PercentFormat(string fmt, Value arg)
    {
        var args = arg is ListValue { IsTuple: true } t ? t.Items : [arg];
        var sb = new StringBuilder();
        var k = 0;
        for (var i = 0; i < fmt.Length; i++)
        {
            if (fmt[i] != '%' || i + 1 >= fmt.Length)
            {
                sb.Append(fmt[i]);
                continue;
            }
            var c = fmt[++i];
            if (c == '%')
            {
                sb.Append('%');
                continue;
            }
            if (k >= args.Count) throw new TemplateException("not enough arguments for format string");
            var v = args[k++];
            sb.Append(c switch
            {
                's' => Python.Str(v),
                'r' => Python.Repr(v),
                'd' or 'i' => ((long)Python.ToDouble(v)).ToString(CultureInfo.InvariantCulture),
                _ => throw new TemplateException($"unsupported format character '{c}'"),
            });
        }
        return sb.ToString();
    }

    public static bool Compare(string op, Value a, Value b) => op switch
    {
        "==" => Python.ValueEquals(a, b),
        "!=" => !Python.ValueEquals(a, b),
        "<" => Ordered(a, b) < 0,
        ">" => Ordered(a, b) > 0,
        "<=" => Ordered(a, b) <= 0,
        ">=" => Ordered(a, b) >= 0,
        "in" => Contains(b, a),
        "not in" => !Contains(b, a),
        _ => throw new TemplateException($"unknown comparison '{op}'"),
    };

    private static int Ordered(Value a, Value b)
    {
        CheckDefined(a, b, "comparison");
        return Python.Compare(a, b);
    }

    public static bool Contains(Value container, Value item) => container switch
    {
        StringValue s => item is StringValue sub
            ? s.V.Contains(sub.V, StringComparison.Ordinal)
            : throw new TemplateException($"'in <string>' requires string as left operand, not {item.TypeName}"),
        ListValue l => l.Items.Any(x => Python.ValueEquals(x, item)),
        DictValue d => d.Map.ContainsKey(item),
        UndefinedValue => false,
        _ => throw new TemplateException($"argument of type '{container.TypeName}' is not iterable"),
    };
}
