using System.Runtime.CompilerServices;

namespace LayerSkip.Engine.Generation.Constraints;

internal enum JsonMode : byte
{
    Value,          // expecting a value (whitespace allowed)
    ObjectStart,    // after '{': key or '}'
    ObjectKey,      // after ',': key
    KeyLiteral,     // inside a schema-constrained key
    KeyString,      // inside a free key
    Colon,          // after a key
    ObjectNext,     // after a member value: ',' or '}'
    ArrayStart,     // after '[': value or ']'
    ArrayNext,      // after an item: ',' or ']'
    String,
    FormatString,   // string following a format template (date-time, date, time, uuid)
    Number,
    Literal,        // true/false/null or enum/const text
    Done,           // top-level value finished: only whitespace
}

internal enum JsonContainer : byte { None, Object, Array }

/// <summary>A saved enclosing container (persistent stack: pushing allocates, popping and cloning do not).</summary>
internal sealed class JsonFrame(JsonFrame? parent, JsonContainer kind, JsonSchemaNode? schema, int count)
{
    public readonly JsonFrame? Parent = parent;
    public readonly JsonContainer Kind = kind;
    public readonly JsonSchemaNode? Schema = schema;
    public readonly int Count = count;
}

internal sealed class JsonLimits(JsonConstraintOptions o)
{
    public readonly int MaxWs = o.MaxWhitespaceRun;
    public readonly int MaxDepth = o.MaxDepth;
    public readonly int MaxIntegerDigits = o.MaxIntegerDigits;
    public readonly int MaxNumberDigits = o.MaxNumberDigits;
    public readonly int MaxFractionDigits = o.MaxFractionDigits;
    public readonly int MaxExponentDigits = o.MaxExponentDigits;
}

/// <summary>The whole recogniser state as a value: copying the struct is a snapshot.</summary>
internal struct JsonState
{
    public JsonFrame? Parent;
    public JsonSchemaNode? Container;   // schema of the innermost open container
    public JsonSchemaNode? Value;       // schema of the value being read (Value/String/Number modes)
    public string[]? Lits;              // Literal / KeyLiteral candidates
    public int Count;                   // array: items started; object: index of the last key produced (-1 none)
    public int Len;                     // string: characters; number: digits in current part
    public int LitLo, LitHi, LitRep, Pos;
    public short Depth;
    public JsonMode Mode;
    public JsonContainer Kind;
    public byte Sub;                    // string escape / number sub-state
    public byte Ws;                     // current whitespace run

    public static JsonState Start(JsonSchemaNode root) => new() { Value = root, Mode = JsonMode.Value };
}

/// <summary>The character-level pushdown automaton for (schema-constrained) JSON.</summary>
internal static partial class JsonMachine
{
    private static readonly string[] BoolLits = ["true", "false"];
    private static readonly string[] NullLits = ["null"];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsWs(char c) => c is ' ' or '\n' or '\r' or '\t';

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsDigit(char c) => (uint)(c - '0') <= 9;

    private static bool IsHex(char c) => IsDigit(c) || (uint)((c | 0x20) - 'a') <= 5;

    /// <summary>Advances <paramref name="s"/> by one character. On false the state is unspecified (callers step a copy).</summary>
    public static bool Step(ref JsonState s, char c, JsonLimits lim)
    {
        var ws = IsWs(c);
        if (!ws) s.Ws = 0;
        while (true)
        {
            switch (s.Mode)
            {
                case JsonMode.Value:
                    if (ws) return Whitespace(ref s, lim);
                    return StartValue(ref s, c, lim);

                case JsonMode.ObjectStart:
                    if (ws) return Whitespace(ref s, lim);
                    if (c == '}') return CanCloseObject(ref s) && Close(ref s);
                    return c == '"' && StartKey(ref s);

                case JsonMode.ObjectKey:
                    if (ws) return Whitespace(ref s, lim);
                    return c == '"' && StartKey(ref s);

                case JsonMode.KeyLiteral:
                    if (!LitExtend(ref s, c)) return false;
                    if (s.Pos == s.Lits![s.LitRep].Length) // key texts are prefix-free: the key is complete
                    {
                        s.Count = s.LitRep;
                        s.Lits = null;
                        s.Mode = JsonMode.Colon;
                    }
                    return true;

                case JsonMode.KeyString:
                    {
                        var r = StringStep(ref s, c, 0, int.MaxValue);
                        if (r == 1) s.Mode = JsonMode.Colon;
                        return r >= 0;
                    }

                case JsonMode.Colon:
                    if (ws) return Whitespace(ref s, lim);
                    if (c != ':') return false;
                    var o = s.Container!;
                    s.Value = o.KeysConstrained ? o.PropertySchemas[s.Count] : o.Additional;
                    s.Mode = JsonMode.Value;
                    return true;

                case JsonMode.ObjectNext:
                    if (ws) return Whitespace(ref s, lim);
                    if (c == ',')
                    {
                        if (s.Container!.KeysConstrained && s.Count + 1 >= s.Container.PropertyKeys.Length) return false;
                        s.Mode = JsonMode.ObjectKey;
                        return true;
                    }
                    return c == '}' && CanCloseObject(ref s) && Close(ref s);

                case JsonMode.ArrayStart:
                    if (ws) return Whitespace(ref s, lim);
                    if (c == ']') return s.Container!.MinItems == 0 && Close(ref s);
                    if (s.Container!.MaxItems == 0) return false;
                    s.Count = 1;
                    s.Value = s.Container.Items;
                    s.Mode = JsonMode.Value;
                    continue; // c starts the first item

                case JsonMode.ArrayNext:
                    if (ws) return Whitespace(ref s, lim);
                    if (c == ',')
                    {
                        if (s.Count >= s.Container!.MaxItems) return false;
                        s.Count++;
                        s.Value = s.Container.Items;
                        s.Mode = JsonMode.Value;
                        return true;
                    }
                    return c == ']' && s.Count >= s.Container!.MinItems && Close(ref s);

                case JsonMode.String:
                    {
                        var r = StringStep(ref s, c, s.Value!.MinLength, s.Value.MaxLength);
                        if (r == 1) ValueDone(ref s);
                        return r >= 0;
                    }

                case JsonMode.FormatString:
                    {
                        var f = s.Value!.Format!;
                        if (s.Pos == f.Length)
                        {
                            if (c == '"') { ValueDone(ref s); return true; }
                            if (c == 'Z' && s.Value.FormatAllowsZ && s.Sub == 0) { s.Sub = 1; return true; }
                            return false;
                        }
                        if (!FormatAllows(f[s.Pos], c, (char)s.Len)) return false;
                        s.Len = c;
                        s.Pos++;
                        return true;
                    }

                case JsonMode.Number:
                    if (NumberStep(ref s, c, lim)) return true;
                    if (!NumberAccepting(in s)) return false;
                    ValueDone(ref s);
                    if (ws) s.Ws = 0;
                    continue; // c belongs to what follows the number

                case JsonMode.Literal:
                    if (LitExtend(ref s, c))
                    {
                        if (!LitCanGrow(in s)) LiteralDone(ref s);
                        return true;
                    }
                    if (!LitAccepting(in s)) return false;
                    LiteralDone(ref s);
                    if (ws) s.Ws = 0;
                    continue;

                case JsonMode.Done:
                    return ws && Whitespace(ref s, lim);

                default:
                    return false;
            }
        }
    }

    /// <summary>The text so far is a complete JSON document (possibly still extendable, e.g. a top-level number).</summary>
    public static bool IsComplete(in JsonState s) => s.Mode switch
    {
        JsonMode.Done => true,
        JsonMode.Number => s.Kind == JsonContainer.None && NumberAccepting(in s),
        JsonMode.Literal => s.Kind == JsonContainer.None && LitAccepting(in s),
        _ => false,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Whitespace(ref JsonState s, JsonLimits lim)
    {
        if (s.Ws >= lim.MaxWs) return false;
        s.Ws++;
        return true;
    }

    private static bool StartValue(ref JsonState s, char c, JsonLimits lim)
    {
        var v = s.Value!;
        var t = v.Types;
        switch (c)
        {
            case '{':
                if ((t & JsonTypes.Object) != 0 && (s.Depth < lim.MaxDepth || (t & ~JsonTypes.Object) == 0))
                {
                    Push(ref s, JsonContainer.Object, v);
                    s.Count = -1;
                    s.Mode = JsonMode.ObjectStart;
                    return true;
                }
                break;
            case '[':
                if ((t & JsonTypes.Array) != 0 && (s.Depth < lim.MaxDepth || (t & ~JsonTypes.Array) == 0))
                {
                    Push(ref s, JsonContainer.Array, v);
                    s.Count = 0;
                    s.Mode = JsonMode.ArrayStart;
                    return true;
                }
                break;
            case '"':
                if ((t & JsonTypes.String) != 0)
                {
                    s.Mode = v.Format != null ? JsonMode.FormatString : JsonMode.String;
                    s.Pos = 0;
                    s.Len = 0;
                    s.Sub = 0;
                    return true;
                }
                break;
            case '-' or (>= '0' and <= '9'):
                if ((t & (JsonTypes.Integer | JsonTypes.Number)) != 0)
                {
                    s.Mode = JsonMode.Number;
                    s.Sub = c == '-' ? (byte)0 : c == '0' ? (byte)1 : (byte)2;
                    s.Len = c is '-' or '0' ? 0 : 1;
                    return true;
                }
                break;
            case 't' or 'f':
                if ((t & JsonTypes.Boolean) != 0) return StartLiteral(ref s, BoolLits, c);
                break;
            case 'n':
                if ((t & JsonTypes.Null) != 0) return StartLiteral(ref s, NullLits, c);
                break;
        }
        return v.Literals != null && StartLiteral(ref s, v.Literals, c);
    }

    private static bool StartLiteral(ref JsonState s, string[] lits, char c)
    {
        s.Mode = JsonMode.Literal;
        s.Lits = lits;
        s.LitLo = 0;
        s.LitHi = lits.Length - 1;
        s.LitRep = 0;
        s.Pos = 0;
        if (!LitExtend(ref s, c)) return false;
        if (!LitCanGrow(in s)) LiteralDone(ref s);
        return true;
    }

    /// <summary>A literal value is complete; as the tag of a discriminated union it picks the object schema that
    /// governs the rest of the object.</summary>
    private static void LiteralDone(ref JsonState s)
    {
        if (s.Kind == JsonContainer.Object && s.Count == 0 && s.Container!.Variants is { } variants
            && variants.TryGetValue(AcceptedLiteral(in s), out var variant))
            s.Container = variant;
        ValueDone(ref s);
    }

    private static string AcceptedLiteral(in JsonState s)
    {
        var lits = s.Lits!;
        if (lits[s.LitRep].Length == s.Pos) return lits[s.LitRep];
        var prefix = lits[s.LitRep].AsSpan(0, s.Pos);
        for (var j = s.LitLo; j <= s.LitHi; j++)
            if (lits[j].Length == s.Pos && lits[j].AsSpan().SequenceEqual(prefix)) return lits[j];
        return lits[s.LitRep];
    }

    private static bool StartKey(ref JsonState s)
    {
        var o = s.Container!;
        if (!o.KeysConstrained)
        {
            s.Mode = JsonMode.KeyString;
            s.Len = 0;
            s.Sub = 0;
            return true;
        }
        var lo = s.Count + 1;
        var n = o.PropertyKeys.Length;
        if (lo >= n) return false;
        s.Mode = JsonMode.KeyLiteral;
        s.Lits = o.PropertyKeys;
        s.LitLo = lo;
        s.LitHi = Math.Min(o.NextRequired[lo], n - 1); // cannot skip past the next required property
        s.LitRep = lo;
        s.Pos = 0;
        return true;
    }

    private static bool CanCloseObject(ref JsonState s)
    {
        var o = s.Container!;
        return !o.KeysConstrained || o.NextRequired[s.Count + 1] == o.PropertyKeys.Length;
    }

    private static void Push(ref JsonState s, JsonContainer kind, JsonSchemaNode schema)
    {
        s.Parent = new JsonFrame(s.Parent, s.Kind, s.Container, s.Count);
        s.Kind = kind;
        s.Container = schema;
        s.Depth++;
    }

    private static bool Close(ref JsonState s)
    {
        var f = s.Parent!;
        s.Kind = f.Kind;
        s.Container = f.Schema;
        s.Count = f.Count;
        s.Parent = f.Parent;
        s.Depth--;
        ValueDone(ref s);
        return true;
    }

    private static void ValueDone(ref JsonState s)
    {
        s.Mode = s.Kind switch
        {
            JsonContainer.Object => JsonMode.ObjectNext,
            JsonContainer.Array => JsonMode.ArrayNext,
            _ => JsonMode.Done,
        };
        s.Value = null;
        s.Lits = null;
        s.Ws = 0;
    }

    /// <summary>-1 reject, 0 consumed, 1 closing quote consumed.</summary>
    private static int StringStep(ref JsonState s, char c, int minLen, int maxLen)
    {
        switch (s.Sub)
        {
            case 0:
                if (c == '"') return s.Len >= minLen ? 1 : -1;
                if (c < 0x20 || s.Len >= maxLen) return -1;
                if (c == '\\') s.Sub = 1;
                else s.Len++;
                return 0;
            case 1:
                if (c is '"' or '\\' or '/' or 'b' or 'f' or 'n' or 'r' or 't') { s.Sub = 0; s.Len++; return 0; }
                if (c == 'u') { s.Sub = 2; return 0; }
                return -1;
            case 2:
                if (!IsHex(c)) return -1;
                s.Sub = (byte)(c is 'd' or 'D' ? 4 : 3);
                return 0;
            case 3:
                if (!IsHex(c)) return -1;
                s.Sub = 5;
                return 0;
            case 4: // \uD?: no surrogate escapes (\uD800-\uDFFF), which System.Text.Json may refuse to decode
                if (c is < '0' or > '7') return -1;
                s.Sub = 5;
                return 0;
            case 5:
                if (!IsHex(c)) return -1;
                s.Sub = 6;
                return 0;
            default:
                if (!IsHex(c)) return -1;
                s.Sub = 0;
                s.Len++;
                return 0;
        }
    }

    // Number sub-states: 0 after '-', 1 leading '0', 2 integer digits, 3 after '.', 4 fraction digits,
    // 5 after 'e', 6 after exponent sign, 7 exponent digits.
    private static bool NumberStep(ref JsonState s, char c, JsonLimits lim)
    {
        var integerOnly = (s.Value!.Types & JsonTypes.Number) == 0;
        var digit = IsDigit(c);
        switch (s.Sub)
        {
            case 0:
                if (c == '0') { s.Sub = 1; return true; }
                if (digit) { s.Sub = 2; s.Len = 1; return true; }
                return false;
            case 1:
            case 2:
                if (s.Sub == 2 && digit && s.Len < (integerOnly ? lim.MaxIntegerDigits : lim.MaxNumberDigits)) { s.Len++; return true; }
                if (integerOnly) return false;
                if (c == '.') { s.Sub = 3; s.Len = 0; return true; }
                if (c is 'e' or 'E' && lim.MaxExponentDigits > 0) { s.Sub = 5; return true; }
                return false;
            case 3:
                if (digit) { s.Sub = 4; s.Len = 1; return true; }
                return false;
            case 4:
                if (digit && s.Len < lim.MaxFractionDigits) { s.Len++; return true; }
                if (c is 'e' or 'E' && lim.MaxExponentDigits > 0) { s.Sub = 5; return true; }
                return false;
            case 5:
                if (c is '+' or '-') { s.Sub = 6; return true; }
                if (digit) { s.Sub = 7; s.Len = 1; return true; }
                return false;
            case 6:
                if (digit) { s.Sub = 7; s.Len = 1; return true; }
                return false;
            default:
                if (digit && s.Len < lim.MaxExponentDigits) { s.Len++; return true; }
                return false;
        }
    }

    /// <summary>Format template classes; <paramref name="prev"/> is the previous character (for month/day/hour units).</summary>
    private static bool FormatAllows(char cls, char c, char prev) => cls switch
    {
        'Y' => c is '1' or '2',
        'D' => IsDigit(c),
        'M' => c is '0' or '1',
        'm' => prev == '0' ? c is >= '1' and <= '9' : c is >= '0' and <= '2',
        'd' => c is >= '0' and <= '2',
        'e' => prev == '0' ? c is >= '1' and <= '9' : prev == '1' ? IsDigit(c) : c is >= '0' and <= '8',
        'h' => c is >= '0' and <= '2',
        'H' => prev == '2' ? c is >= '0' and <= '3' : IsDigit(c),
        'n' => c is >= '0' and <= '5',
        'x' => IsHex(c),
        _ => c == cls,
    };

    private static bool NumberAccepting(in JsonState s) => s.Sub is 1 or 2 or 4 or 7;

    private static bool LitExtend(ref JsonState s, char c)
    {
        var lits = s.Lits!;
        var pos = s.Pos;
        var rep = lits[s.LitRep];
        if (pos < rep.Length && rep[pos] == c) { s.Pos++; return true; }
        var prefix = rep.AsSpan(0, Math.Min(pos, rep.Length));
        for (var j = s.LitLo; j <= s.LitHi; j++)
        {
            var l = lits[j];
            if (l.Length > pos && l[pos] == c && l.AsSpan(0, pos).SequenceEqual(prefix))
            {
                s.LitRep = j;
                s.Pos++;
                return true;
            }
        }
        return false;
    }

    private static bool LitAccepting(in JsonState s)
    {
        var lits = s.Lits!;
        var rep = lits[s.LitRep];
        if (rep.Length == s.Pos) return true;
        var prefix = rep.AsSpan(0, s.Pos);
        for (var j = s.LitLo; j <= s.LitHi; j++)
            if (lits[j].Length == s.Pos && lits[j].AsSpan().SequenceEqual(prefix)) return true;
        return false;
    }

    private static bool LitCanGrow(in JsonState s)
    {
        var lits = s.Lits!;
        var rep = lits[s.LitRep];
        if (rep.Length > s.Pos) return true;
        var prefix = rep.AsSpan(0, s.Pos);
        for (var j = s.LitLo; j <= s.LitHi; j++)
            if (lits[j].Length > s.Pos && lits[j].AsSpan(0, s.Pos).SequenceEqual(prefix)) return true;
        return false;
    }
}
