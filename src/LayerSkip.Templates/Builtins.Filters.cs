using System.Globalization;
using System.Text;

namespace LayerSkip.Templates;

internal sealed partial class Builtins
{
    // ---------------- filters ----------------

    public Value ApplyFilter(string name, Value v, CallArgs a)
    {
        switch (name)
        {
            case "safe":
                return v;
            case "string":
                return v is StringValue ? v : Value.Str(Python.Str(v));
            case "trim":
            {
                var chars = a.Get(0, "chars", Value.None);
                return Value.Str(chars is StringValue cs ? Python.Str(v).Trim(cs.V.ToCharArray()) : Python.Str(v).Trim());
            }
            case "upper": return Value.Str(Python.Str(v).ToUpperInvariant());
            case "lower": return Value.Str(Python.Str(v).ToLowerInvariant());
            case "capitalize": return Value.Str(Capitalize(Python.Str(v)));
            case "title": return Value.Str(Title(Python.Str(v)));
            case "length" or "count":
                return v switch
                {
                    StringValue s => Value.Int(Len(s.V)),
                    ListValue l => Value.Int(l.Items.Count),
                    DictValue d => Value.Int(d.Map.Count),
                    UndefinedValue => Value.Int(0),
                    _ => throw new TemplateException($"object of type '{v.TypeName}' has no len()"),
                };
            case "tojson":
                return Value.Str(ToJson(v, a));
            case "items":
                return v switch
                {
                    DictValue d => new ListValue(d.Map.Select(kv => (Value)new ListValue([kv.Key, kv.Value], isTuple: true)).ToList()),
                    UndefinedValue => new ListValue(),
                    _ => throw new TemplateException($"items filter expects a mapping, got {v.TypeName}"),
                };
            case "first":
            {
                var items = Iterate(v);
                return items.Count > 0 ? items[0] : Value.Undefined("first");
            }
            case "last":
            {
                var items = Iterate(v);
                return items.Count > 0 ? items[^1] : Value.Undefined("last");
            }
            case "list": return new ListValue([.. Iterate(v)]);
            case "reverse":
                return v is StringValue rs
                    ? Value.Str(string.Concat(CodePoints(rs.V).Reverse()))
                    : new ListValue(Enumerable.Reverse(Iterate(v)).ToList());
            case "join":
            {
                var sep = Python.Str(a.Get(0, "d", StringValue.Empty));
                var attr = a.Get(1, "attribute", Value.None);
                var items = Iterate(v).Select(x => attr is NoneValue ? x : GetPath(x, attr));
                return Value.Str(string.Join(sep, items.Select(Python.Str)));
            }
            case "default" or "d":
            {
                var fallback = a.Get(0, "default_value", StringValue.Empty);
                var boolean = a.Get(1, "boolean", Value.Bool(false)).IsTruthy;
                return v is UndefinedValue || (boolean && !v.IsTruthy) ? fallback : v;
            }
            case "int":
            {
                var fallback = a.Get(0, "default", Value.Int(0));
                return v switch
                {
                    IntValue => v,
                    BoolValue b => Value.Int(b.V ? 1 : 0),
                    FloatValue f => Value.Int((long)Math.Truncate(f.V)),
                    StringValue s when long.TryParse(s.V.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) => Value.Int(i),
                    StringValue s when double.TryParse(s.V.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => Value.Int((long)Math.Truncate(d)),
                    _ => fallback,
                };
            }
            case "float":
            {
                var fallback = a.Get(0, "default", Value.Float(0));
                return v switch
                {
                    FloatValue => v,
                    IntValue or BoolValue => Value.Float(Python.ToDouble(v)),
                    StringValue s when double.TryParse(s.V.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => Value.Float(d),
                    _ => fallback,
                };
            }
            case "abs":
                return v switch
                {
                    IntValue i => Value.Int(Math.Abs(i.V)),
                    FloatValue f => Value.Float(Math.Abs(f.V)),
                    _ => throw new TemplateException($"bad operand type for abs(): '{v.TypeName}'"),
                };
            case "replace":
            {
                var count = a.Get(2, "count", Value.None);
                return Value.Str(Replace(Python.Str(v), Python.Str(a.Get(0, "old")), Python.Str(a.Get(1, "new")), count is NoneValue or UndefinedValue ? -1 : ToInt(count)));
            }
            case "selectattr" or "rejectattr":
            {
                var select = name == "selectattr";
                var attr = a.Get(0, "attribute");
                var result = new List<Value>();
                foreach (var item in Iterate(v))
                {
                    var field = GetPath(item, attr);
                    var ok = a.Positional.Count > 1
                        ? ApplyTest(Python.Str(a.Positional[1]), field, a.Positional.Skip(2).ToList())
                        : field.IsTruthy;
                    if (ok == select) result.Add(item);
                }
                return new ListValue(result);
            }
            case "select" or "reject":
            {
                var select = name == "select";
                var result = new List<Value>();
                foreach (var item in Iterate(v))
                {
                    var ok = a.Positional.Count > 0
                        ? ApplyTest(Python.Str(a.Positional[0]), item, a.Positional.Skip(1).ToList())
                        : item.IsTruthy;
                    if (ok == select) result.Add(item);
                }
                return new ListValue(result);
            }
            case "map":
            {
                var items = Iterate(v);
                if (a.Has(-1, "attribute"))
                {
                    var attr = a.Get(-1, "attribute");
                    var def = a.Has(-1, "default") ? a.Get(-1, "default") : null;
                    return new ListValue(items.Select(x =>
                    {
                        var r = GetPath(x, attr);
                        return r is UndefinedValue && def is not null ? def : r;
                    }).ToList());
                }
                if (a.Positional.Count == 0) throw new TemplateException("map requires a filter name or attribute=");
                var filter = Python.Str(a.Positional[0]);
                var rest = new CallArgs(a.Positional.Skip(1).ToList(), a.Keywords);
                return new ListValue(items.Select(x => ApplyFilter(filter, x, rest)).ToList());
            }
            case "unique":
            {
                var result = new List<Value>();
                foreach (var item in Iterate(v))
                    if (!result.Any(r => Python.ValueEquals(r, item))) result.Add(item);
                return new ListValue(result);
            }
            case "sort":
            {
                var reverse = a.Get(0, "reverse", Value.Bool(false)).IsTruthy;
                var attr = a.Get(2, "attribute", Value.None);
                var items = Iterate(v).ToList();
                Value Key(Value x) => attr is NoneValue ? x : GetPath(x, attr);
                var sorted = items.Select((x, i) => (x, i)).ToList();
                sorted.Sort((p, q) =>
                {
                    var c = Python.Compare(Key(p.x), Key(q.x));
                    if (reverse) c = -c;
                    return c != 0 ? c : p.i.CompareTo(q.i);
                });
                return new ListValue(sorted.Select(p => p.x).ToList());
            }
            case "dictsort":
            {
                if (v is not DictValue d) throw new TemplateException("dictsort expects a mapping");
                var reverse = a.Get(2, "reverse", Value.Bool(false)).IsTruthy;
                var byValue = Python.Str(a.Get(1, "by", Value.Str("key"))) == "value";
                var pairs = d.Map.ToList();
                pairs.Sort((p, q) => (reverse ? -1 : 1) * (byValue ? Python.Compare(p.Value, q.Value) : Python.Compare(p.Key, q.Key)));
                return new ListValue(pairs.Select(kv => (Value)new ListValue([kv.Key, kv.Value], isTuple: true)).ToList());
            }
            case "min" or "max":
            {
                var items = Iterate(v);
                if (items.Count == 0) return Value.Undefined(name);
                var best = items[0];
                foreach (var x in items.Skip(1))
                {
                    var c = Python.Compare(x, best);
                    if (name == "min" ? c < 0 : c > 0) best = x;
                }
                return best;
            }
            case "sum":
            {
                Value total = a.Get(1, "start", Value.Int(0));
                var attr = a.Get(0, "attribute", Value.None);
                foreach (var x in Iterate(v)) total = Binary("+", total, attr is NoneValue ? x : GetPath(x, attr));
                return total;
            }
            case "round":
            {
                var precision = (int)ToInt(a.Get(0, "precision", Value.Int(0)));
                var method = Python.Str(a.Get(1, "method", Value.Str("common")));
                var x = Python.ToDouble(v);
                var scale = Math.Pow(10, precision);
                var r = method switch
                {
                    "ceil" => Math.Ceiling(x * scale) / scale,
                    "floor" => Math.Floor(x * scale) / scale,
                    _ => Math.Round(x, precision, MidpointRounding.ToEven), // Python round(): banker's rounding
                };
                return Value.Float(r);
            }
            case "indent":
            {
                var width = a.Get(0, "width", Value.Int(4));
                var pad = width is StringValue ws ? ws.V : new string(' ', (int)ToInt(width));
                var first = a.Get(1, "first", Value.Bool(false)).IsTruthy;
                var blank = a.Get(2, "blank", Value.Bool(false)).IsTruthy;
                var lines = Python.Str(v).Split('\n');
                var sb = new StringBuilder();
                for (var i = 0; i < lines.Length; i++)
                {
                    if (i > 0) sb.Append('\n');
                    if ((i > 0 || first) && (blank || lines[i].Length > 0)) sb.Append(pad);
                    sb.Append(lines[i]);
                }
                return Value.Str(sb.ToString());
            }
            case "escape" or "e":
                return Value.Str(Python.Str(v).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")
                    .Replace("\"", "&#34;").Replace("'", "&#39;"));
            case "wordcount":
                return Value.Int(Python.Str(v).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length);
            case "batch":
            {
                var size = (int)ToInt(a.Get(0, "linecount"));
                if (size <= 0) throw new TemplateException("batch size must be positive");
                var items = Iterate(v);
                return new ListValue(items.Chunk(size).Select(c => (Value)new ListValue([.. c])).ToList());
            }
            default:
                throw new TemplateException($"Unknown filter '{name}'");
        }
    }

    /// <summary>Attribute lookup by dotted path (<c>map(attribute='function.name')</c>); integer segments index lists.</summary>
    private Value GetPath(Value item, Value attr)
    {
        if (attr is IntValue) return GetItem(item, attr);
        var cur = item;
        foreach (var part in Python.Str(attr).Split('.'))
        {
            cur = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var idx) && cur is ListValue
                ? GetItem(cur, Value.Int(idx))
                : GetAttrOrItem(cur, part);
        }
        return cur;
    }

    private Value GetAttrOrItem(Value obj, string name) => obj is DictValue d && d is not NamespaceValue
        ? d.Map.TryGetValue(new StringValue(name), out var v) ? v : Value.Undefined(name)
        : GetAttr(obj, name);

    /// <summary>HF's tojson: <c>json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)</c> (no HTML escaping).</summary>
    private static string ToJson(Value v, CallArgs a)
    {
        var indentArg = a.Get(0, "indent", Value.None);
        string? indent = indentArg switch
        {
            NoneValue or UndefinedValue => null,
            StringValue s => s.V,
            _ => new string(' ', (int)Math.Max(0, ToInt(indentArg))),
        };
        var itemSep = indent is null ? ", " : ",";
        var keySep = ": ";
        var separators = a.Get(-1, "separators", Value.None);
        if (separators is ListValue { Items.Count: 2 } sepList)
        {
            itemSep = Python.Str(sepList.Items[0]);
            keySep = Python.Str(sepList.Items[1]);
        }
        var sortKeys = a.Get(-1, "sort_keys", Value.Bool(false)).IsTruthy;
        return Python.JsonDumps(v, indent, itemSep, keySep, sortKeys);
    }

    // ---------------- tests ----------------

    public bool ApplyTest(string name, Value v, List<Value> args)
    {
        Value Arg(int i) => i < args.Count ? args[i] : throw new TemplateException($"test '{name}' needs an argument");
        switch (name)
        {
            case "defined": return v is not UndefinedValue;
            case "undefined": return v is UndefinedValue;
            case "none": return v is NoneValue;
            case "boolean": return v is BoolValue;
            case "true": return v is BoolValue { V: true };
            case "false": return v is BoolValue { V: false };
            case "integer": return v is IntValue;
            case "float": return v is FloatValue;
            case "number": return v is IntValue or FloatValue or BoolValue;
            case "string": return v is StringValue;
            case "mapping": return v is DictValue and not NamespaceValue;
            case "iterable": return v is StringValue or ListValue or DictValue or UndefinedValue && v is not NamespaceValue;
            case "sequence": return v is StringValue or ListValue or DictValue or UndefinedValue && v is not NamespaceValue;
            case "callable": return v is CallableValue;
            case "odd": return ToInt(v) % 2 != 0;
            case "even": return ToInt(v) % 2 == 0;
            case "divisibleby": return ToInt(v) % ToInt(Arg(0)) == 0;
            case "eq" or "equalto" or "==": return Python.ValueEquals(v, Arg(0));
            case "ne" or "!=": return !Python.ValueEquals(v, Arg(0));
            case "lt" or "lessthan" or "<": return Python.Compare(v, Arg(0)) < 0;
            case "le" or "<=": return Python.Compare(v, Arg(0)) <= 0;
            case "gt" or "greaterthan" or ">": return Python.Compare(v, Arg(0)) > 0;
            case "ge" or ">=": return Python.Compare(v, Arg(0)) >= 0;
            case "in": return Contains(Arg(0), v);
            case "sameas":
            {
                var o = Arg(0);
                return ReferenceEquals(v, o) || (v is NoneValue && o is NoneValue) || (v is BoolValue && o is BoolValue && v.Equals(o));
            }
            case "lower": return v is StringValue ls && ls.V == ls.V.ToLowerInvariant();
            case "upper": return v is StringValue us && us.V == us.V.ToUpperInvariant();
            case "escaped": return false;
            default: throw new TemplateException($"Unknown test '{name}'");
        }
    }

    // ---------------- string methods ----------------

    private static CallableValue? StringMethod(string s, string name) => name switch
    {
        "startswith" => Method(name, a => Value.Bool(MatchAffix(s, a, start: true))),
        "endswith" => Method(name, a => Value.Bool(MatchAffix(s, a, start: false))),
        "strip" => Method(name, a => Value.Str(Strip(s, a.Get(0, "chars", Value.None), true, true))),
        "lstrip" => Method(name, a => Value.Str(Strip(s, a.Get(0, "chars", Value.None), true, false))),
        "rstrip" => Method(name, a => Value.Str(Strip(s, a.Get(0, "chars", Value.None), false, true))),
        "split" => Method(name, a => Split(s, a.Get(0, "sep", Value.None), a.Get(1, "maxsplit", Value.Int(-1)), fromRight: false)),
        "rsplit" => Method(name, a => Split(s, a.Get(0, "sep", Value.None), a.Get(1, "maxsplit", Value.Int(-1)), fromRight: true)),
        "splitlines" => Method(name, _ =>
        {
            var lines = s.Replace("\r\n", "\n").Split('\n').ToList();
            if (s.EndsWith('\n')) lines.RemoveAt(lines.Count - 1);
            return new ListValue(lines.Select(l => (Value)Value.Str(l)).ToList());
        }),
        "replace" => Method(name, a =>
        {
            var count = a.Get(2, "count", Value.Int(-1));
            return Value.Str(Replace(s, Python.Str(a.Get(0, "old")), Python.Str(a.Get(1, "new")), ToInt(count)));
        }),
        "upper" => Method(name, _ => Value.Str(s.ToUpperInvariant())),
        "lower" => Method(name, _ => Value.Str(s.ToLowerInvariant())),
        "capitalize" => Method(name, _ => Value.Str(Capitalize(s))),
        "title" => Method(name, _ => Value.Str(Title(s))),
        "find" => Method(name, a => Value.Int(Find(s, Python.Str(a.Get(0, "sub")), fromRight: false))),
        "rfind" => Method(name, a => Value.Int(Find(s, Python.Str(a.Get(0, "sub")), fromRight: true))),
        "count" => Method(name, a =>
        {
            var sub = Python.Str(a.Get(0, "sub"));
            if (sub.Length == 0) return Value.Int(Len(s) + 1);
            var n = 0;
            for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
            return Value.Int(n);
        }),
        "join" => Method(name, a => Value.Str(string.Join(s, Iterate(a.Get(0, "iterable")).Select(x =>
            x is StringValue xs ? xs.V : throw new TemplateException($"sequence item: expected str instance, {x.TypeName} found"))))),
        "isdigit" => Method(name, _ => Value.Bool(s.Length > 0 && s.All(char.IsDigit))),
        "isspace" => Method(name, _ => Value.Bool(s.Length > 0 && s.All(char.IsWhiteSpace))),
        "isalpha" => Method(name, _ => Value.Bool(s.Length > 0 && s.All(char.IsLetter))),
        "islower" => Method(name, _ => Value.Bool(s.Any(char.IsLetter) && s == s.ToLowerInvariant())),
        "isupper" => Method(name, _ => Value.Bool(s.Any(char.IsLetter) && s == s.ToUpperInvariant())),
        _ => null,
    };

    private static bool MatchAffix(string s, CallArgs a, bool start)
    {
        var arg = a.Get(0, start ? "prefix" : "suffix");
        var candidates = arg switch
        {
            StringValue sv => [sv.V],
            ListValue l => l.Items.Select(Python.Str).ToList(),
            _ => throw new TemplateException($"{(start ? "startswith" : "endswith")} first arg must be str or a tuple of str, not {arg.TypeName}"),
        };
        return candidates.Any(c => start ? s.StartsWith(c, StringComparison.Ordinal) : s.EndsWith(c, StringComparison.Ordinal));
    }

    private static string Strip(string s, Value chars, bool left, bool right)
    {
        if (chars is NoneValue or UndefinedValue)
        {
            return left && right ? s.Trim() : left ? s.TrimStart() : s.TrimEnd();
        }
        var set = Python.Str(chars).ToCharArray();
        return left && right ? s.Trim(set) : left ? s.TrimStart(set) : s.TrimEnd(set);
    }

    private static ListValue Split(string s, Value sepValue, Value maxValue, bool fromRight)
    {
        var max = maxValue is NoneValue or UndefinedValue ? -1 : ToInt(maxValue);
        var parts = new List<string>();
        if (sepValue is NoneValue or UndefinedValue)
        {
            // whitespace split: runs of whitespace, no empty strings
            var words = new List<(int Start, int End)>();
            var i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) break;
                var st = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
                words.Add((st, i));
            }
            if (max < 0 || words.Count <= max + 1) return new ListValue(words.Select(w => (Value)Value.Str(s[w.Start..w.End])).ToList());
            if (!fromRight)
            {
                var head = words.Take((int)max).Select(w => s[w.Start..w.End]).ToList();
                head.Add(s[words[(int)max].Start..].TrimEnd());
                return new ListValue(head.Select(x => (Value)Value.Str(x)).ToList());
            }
            var tail = words.Skip(words.Count - (int)max).Select(w => s[w.Start..w.End]).ToList();
            tail.Insert(0, s[..words[words.Count - (int)max - 1].End].TrimStart());
            return new ListValue(tail.Select(x => (Value)Value.Str(x)).ToList());
        }
        var sep = Python.Str(sepValue);
        if (sep.Length == 0) throw new TemplateException("empty separator");
        if (!fromRight)
        {
            var start = 0;
            while (max < 0 || parts.Count < max)
            {
                var idx = s.IndexOf(sep, start, StringComparison.Ordinal);
                if (idx < 0) break;
                parts.Add(s[start..idx]);
                start = idx + sep.Length;
            }
            parts.Add(s[start..]);
        }
        else
        {
            var end = s.Length;
            while (max < 0 || parts.Count < max)
            {
                if (end < sep.Length) break;
                var idx = s.LastIndexOf(sep, end - 1, end, StringComparison.Ordinal);
                if (idx < 0) break;
                parts.Insert(0, s[(idx + sep.Length)..end]);
                end = idx;
            }
            parts.Insert(0, s[..end]);
        }
        return new ListValue(parts.Select(p => (Value)Value.Str(p)).ToList());
    }

    private static string Replace(string s, string old, string replacement, long count)
    {
        if (count == 0) return s;
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            var n = 0;
            foreach (var cp in CodePoints(s))
            {
                if (count < 0 || n < count)
                {
                    sb.Append(replacement);
                    n++;
                }
                sb.Append(cp);
            }
            if (count < 0 || n < count) sb.Append(replacement);
            return sb.ToString();
        }
        var start = 0;
        var done = 0L;
        while (count < 0 || done < count)
        {
            var idx = s.IndexOf(old, start, StringComparison.Ordinal);
            if (idx < 0) break;
            sb.Append(s, start, idx - start).Append(replacement);
            start = idx + old.Length;
            done++;
        }
        sb.Append(s, start, s.Length - start);
        return sb.ToString();
    }

    private static long Find(string s, string sub, bool fromRight)
    {
        var idx = fromRight ? s.LastIndexOf(sub, StringComparison.Ordinal) : s.IndexOf(sub, StringComparison.Ordinal);
        if (idx < 0) return -1;
        return Len(s[..idx]);
    }

    private static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var prevLetter = false;
        foreach (var c in s)
        {
            sb.Append(prevLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            prevLetter = char.IsLetter(c);
        }
        return sb.ToString();
    }

    // ---------------- strftime ----------------

    /// <summary>Python <c>datetime.strftime</c> for the common directives (plus glibc's <c>%-d</c> no-padding form).</summary>
    internal static string Strftime(DateTimeOffset t, string format)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            var c = format[++i];
            var noPad = false;
            if (c == '-' && i + 1 < format.Length)
            {
                noPad = true;
                c = format[++i];
            }
            string Pad(int v, int w) => noPad ? v.ToString(inv) : v.ToString(new string('0', w), inv);
            sb.Append(c switch
            {
                'Y' => t.Year.ToString(inv),
                'y' => Pad(t.Year % 100, 2),
                'm' => Pad(t.Month, 2),
                'd' => Pad(t.Day, 2),
                'e' => t.Day.ToString(inv).PadLeft(2),
                'H' => Pad(t.Hour, 2),
                'I' => Pad(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'M' => Pad(t.Minute, 2),
                'S' => Pad(t.Second, 2),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", inv),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => Pad(t.DayOfYear, 3),
                'a' => t.ToString("ddd", inv),
                'A' => t.ToString("dddd", inv),
                'b' or 'h' => t.ToString("MMM", inv),
                'B' => t.ToString("MMMM", inv),
                'w' => ((int)t.DayOfWeek).ToString(inv),
                'u' => (t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek).ToString(inv),
                'z' => (t.Offset < TimeSpan.Zero ? "-" : "+") + t.Offset.ToString("hhmm", inv),
                'Z' => t.Offset == TimeSpan.Zero ? "UTC" : "",
                'c' => t.ToString("ddd MMM ", inv) + t.Day.ToString(inv).PadLeft(2) + t.ToString(" HH:mm:ss yyyy", inv),
                'x' => t.ToString("MM/dd/yy", inv),
                'X' => t.ToString("HH:mm:ss", inv),
                'D' => t.ToString("MM/dd/yy", inv),
                'F' => t.ToString("yyyy-MM-dd", inv),
                'T' => t.ToString("HH:mm:ss", inv),
                'R' => t.ToString("HH:mm", inv),
                'n' => "\n",
                't' => "\t",
                '%' => "%",
                _ => "%" + c,
            });
        }
        return sb.ToString();
    }
}
