using System.Globalization;
using System.Text;
using LayerSkip.Text;

namespace LayerSkip.Templates;

/// <summary>Python semantics the templates rely on: str(), repr(), float formatting, json.dumps, comparisons.</summary>
internal static class Python
{
    /// <summary>Python <c>str(value)</c>; undefined renders as the empty string (Jinja's default Undefined).</summary>
    public static string Str(Value v) => v switch
    {
        StringValue s => s.V,
        UndefinedValue => "",
        _ => Repr(v),
    };

    public static string Repr(Value v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, Value v)
    {
        switch (v)
        {
            case UndefinedValue: break;
            case NoneValue: sb.Append("None"); break;
            case BoolValue b: sb.Append(b.V ? "True" : "False"); break;
            case IntValue i: sb.Append(i.V.ToString(CultureInfo.InvariantCulture)); break;
            case FloatValue f: sb.Append(FormatFloat(f.V)); break;
            case StringValue s: AppendStringRepr(sb, s.V); break;
            case ListValue l:
                sb.Append(l.IsTuple ? '(' : '[');
                for (var i = 0; i < l.Items.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, l.Items[i]);
                }
                if (l.IsTuple && l.Items.Count == 1) sb.Append(',');
                sb.Append(l.IsTuple ? ')' : ']');
                break;
            case NamespaceValue ns:
                sb.Append("<Namespace ");
                AppendDict(sb, ns);
                sb.Append('>');
                break;
            case DictValue d: AppendDict(sb, d); break;
            case CallableValue c: sb.Append("<function ").Append(c.Name).Append('>'); break;
            default: sb.Append('<').Append(v.TypeName).Append('>'); break;
        }
    }

    private static void AppendDict(StringBuilder sb, DictValue d)
    {
        sb.Append('{');
        var first = true;
        foreach (var kv in d.Map)
        {
            if (!first) sb.Append(", ");
            first = false;
            AppendRepr(sb, kv.Key);
            sb.Append(": ");
            AppendRepr(sb, kv.Value);
        }
        sb.Append('}');
    }

    private static void AppendStringRepr(StringBuilder sb, string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (var c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append(quote);
    }

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, fixed notation for exponents in [-4, 16), else <c>1e+16</c> style.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // Find shortest round-trip representation via "R" and re-derive digits/exponent from it.
        var shortest = d.ToString("R", CultureInfo.InvariantCulture);
        var neg = shortest.StartsWith('-');
        if (neg) shortest = shortest[1..];
        string mantissa;
        var exp = 0;
        var eIdx = shortest.IndexOfAny(['E', 'e']);
        if (eIdx >= 0)
        {
            exp = int.Parse(shortest[(eIdx + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            mantissa = shortest[..eIdx];
        }
        else
        {
            mantissa = shortest;
        }
        var dot = mantissa.IndexOf('.');
        var intPart = dot >= 0 ? mantissa[..dot] : mantissa;
        var fracPart = dot >= 0 ? mantissa[(dot + 1)..] : "";
        var digits = (intPart + fracPart).TrimStart('0');
        // decimal exponent: value = 0.digits * 10^pointPos
        var leadingZeros = (intPart + fracPart).Length - (intPart + fracPart).TrimStart('0').Length;
        var pointPos = intPart.Length + exp - leadingZeros;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) return neg ? "-0.0" : "0.0";
        var sciExp = pointPos - 1;
        var sb = new StringBuilder();
        if (neg) sb.Append('-');
        if (sciExp >= -5 + 1 && sciExp < 16)
        {
            if (pointPos <= 0)
            {
                sb.Append("0.").Append('0', -pointPos).Append(digits);
            }
            else if (pointPos >= digits.Length)
            {
                sb.Append(digits).Append('0', pointPos - digits.Length).Append(".0");
            }
            else
            {
                sb.Append(digits, 0, pointPos).Append('.').Append(digits, pointPos, digits.Length - pointPos);
            }
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(sciExp < 0 ? '-' : '+').Append(Math.Abs(sciExp).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    public static bool IsNumber(Value v) => v is IntValue or FloatValue or BoolValue;

    public static double ToDouble(Value v) => v switch
    {
        IntValue i => i.V,
        FloatValue f => f.V,
        BoolValue b => b.V ? 1 : 0,
        _ => throw new TemplateException($"expected a number, got {v.TypeName}"),
    };

    public static bool ValueEquals(Value a, Value b)
    {
        if (a is BoolValue ba && b is IntValue or FloatValue) return ToDouble(ba) == ToDouble(b);
        if (b is BoolValue bb && a is IntValue or FloatValue) return ToDouble(a) == ToDouble(bb);
        return a.Equals(b);
    }

    /// <summary>Python ordering (&lt;): numbers, strings (by code point), lists lexicographically.</summary>
    public static int Compare(Value a, Value b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is IntValue ia && b is IntValue ib) return ia.V.CompareTo(ib.V);
            return ToDouble(a).CompareTo(ToDouble(b));
        }
        if (a is StringValue sa && b is StringValue sb) return CompareCodePoints(sa.V, sb.V);
        if (a is ListValue la && b is ListValue lb)
        {
            for (var i = 0; i < Math.Min(la.Items.Count, lb.Items.Count); i++)
            {
                if (ValueEquals(la.Items[i], lb.Items[i])) continue;
                return Compare(la.Items[i], lb.Items[i]);
            }
            return la.Items.Count.CompareTo(lb.Items.Count);
        }
        throw new TemplateException($"'<' not supported between instances of '{a.TypeName}' and '{b.TypeName}'");
    }

    private static int CompareCodePoints(string a, string b)
    {
        var ea = a.EnumerateRunes();
        var eb = b.EnumerateRunes();
        while (true)
        {
            var ha = ea.MoveNext();
            var hb = eb.MoveNext();
            if (!ha || !hb) return ha == hb ? 0 : ha ? 1 : -1;
            var c = ea.Current.Value.CompareTo(eb.Current.Value);
            if (c != 0) return c;
        }
    }

    // ---- json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...) ----

    public static string JsonDumps(Value v, string? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        var sb = new StringBuilder();
        WriteJson(sb, v, indent, itemSeparator, keySeparator, sortKeys, 0);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, Value v, string? indent, string itemSep, string keySep, bool sortKeys, int level)
    {
        switch (v)
        {
            case NoneValue: sb.Append("null"); break;
            case BoolValue b: sb.Append(b.V ? "true" : "false"); break;
            case IntValue i: sb.Append(i.V.ToString(CultureInfo.InvariantCulture)); break;
            case FloatValue f:
                sb.Append(double.IsNaN(f.V) ? "NaN" : double.IsPositiveInfinity(f.V) ? "Infinity" : double.IsNegativeInfinity(f.V) ? "-Infinity" : FormatFloat(f.V));
                break;
            case StringValue s: WriteJsonString(sb, s.V); break;
            case ListValue l:
                if (l.Items.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }
                sb.Append('[');
                for (var i = 0; i < l.Items.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    NewLine(sb, indent, level + 1);
                    WriteJson(sb, l.Items[i], indent, itemSep, keySep, sortKeys, level + 1);
                }
                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            case DictValue d:
                if (d.Map.Count == 0)
                {
                    sb.Append("{}");
                    break;
                }
                sb.Append('{');
                var entries = d.Map.Select(kv => (Key: JsonKey(kv.Key), kv.Value)).ToList();
                if (sortKeys) entries.Sort((x, y) => CompareCodePoints(x.Key, y.Key));
                for (var i = 0; i < entries.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    NewLine(sb, indent, level + 1);
                    WriteJsonString(sb, entries[i].Key);
                    sb.Append(keySep);
                    WriteJson(sb, entries[i].Value, indent, itemSep, keySep, sortKeys, level + 1);
                }
                NewLine(sb, indent, level);
                sb.Append('}');
                break;
            case UndefinedValue u:
                throw new TemplateException($"Object of type Undefined is not JSON serializable{(u.Hint is null ? "" : $" ('{u.Hint}' is undefined)")}");
            default:
                throw new TemplateException($"Object of type {v.TypeName} is not JSON serializable");
        }
    }

    private static string JsonKey(Value k) => k switch
    {
        StringValue s => s.V,
        IntValue or FloatValue => Repr(k),
        BoolValue b => b.V ? "true" : "false",
        NoneValue => "null",
        _ => throw new TemplateException($"keys must be str, int, float, bool or None, not {k.TypeName}"),
    };

    private static void NewLine(StringBuilder sb, string? indent, int level)
    {
        if (indent is null) return;
        sb.Append('\n');
        for (var i = 0; i < level; i++) sb.Append(indent);
    }

    private static void WriteJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        JsonEscaping.Append(sb, s, asciiOnly: false); // json.dumps(ensure_ascii=False), as transformers renders
        sb.Append('"');
    }
}
