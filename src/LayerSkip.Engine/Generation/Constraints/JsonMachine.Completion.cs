using System.Text;

namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>
/// The shortest text that completes a JSON value from any recogniser state: what must still be written to close the
/// open strings, arrays and objects (with the required properties and minimum items not yet written). It is built by
/// stepping the machine itself, so it is valid by construction.
/// </summary>
internal static partial class JsonMachine
{
    /// <summary>The shortest completion of <paramref name="state"/> (empty when the value is already complete).</summary>
    public static string ShortestCompletion(JsonState state, JsonLimits lim)
    {
        var sb = new StringBuilder();
        for (var guard = 0; !IsComplete(in state); guard++)
        {
            var chunk = NextChunk(in state);
            if (chunk.Length == 0 || guard > 100_000) throw new InvalidOperationException("The JSON value cannot be completed from this state.");
            foreach (var c in chunk)
                if (!Step(ref state, c, lim))
                    throw new InvalidOperationException($"Completion chunk '{chunk}' is not accepted after '{sb}'.");
            sb.Append(chunk);
        }
        return sb.ToString();
    }

    /// <summary>The shortest complete value of <paramref name="node"/> (see <see cref="JsonMinimalValues"/>).</summary>
    private static string MinText(JsonSchemaNode node) =>
        node.MinimalText ?? throw new InvalidOperationException("Minimal values were not computed for this schema.");

    private static string NextChunk(in JsonState s)
    {
        switch (s.Mode)
        {
            case JsonMode.Value:
                if (s.Kind == JsonContainer.Object && s.Count == 0 && s.Container!.Variants is { } variants)
                    return variants.MinBy(v => v.Value.MinimalText!.Length).Key; // the tag of the cheapest variant
                return MinText(s.Value!);
            case JsonMode.ObjectStart:
                {
                    var o = s.Container!;
                    if (!o.KeysConstrained || o.NextRequired[s.Count + 1] == o.PropertyKeys.Length) return "}";
                    return "\"" + o.PropertyKeys[o.NextRequired[s.Count + 1]] + ":";
                }
            case JsonMode.ObjectKey:
                {
                    var o = s.Container!;
                    if (!o.KeysConstrained) return "\"\":";
                    var lo = s.Count + 1;
                    var r = o.NextRequired[lo] < o.PropertyKeys.Length ? o.NextRequired[lo] : lo;
                    return "\"" + o.PropertyKeys[r] + ":";
                }
            case JsonMode.KeyLiteral:
                return ShortestLiteralRest(in s) + ":";
            case JsonMode.KeyString:
                return EscapeRest(s.Sub) + "\":";
            case JsonMode.Colon:
                return ":";
            case JsonMode.ObjectNext:
            case JsonMode.ArrayNext:
                return AfterValue(in s);
            case JsonMode.ArrayStart:
                return s.Container!.MinItems == 0 ? "]" : MinText(s.Container.Items);
            case JsonMode.String:
                {
                    var pending = s.Sub != 0 ? 1 : 0;
                    var pad = Math.Max(0, s.Value!.MinLength - s.Len - pending);
                    return EscapeRest(s.Sub) + new string('a', pad) + "\"";
                }
            case JsonMode.FormatString:
                {
                    var f = s.Value!.Format!;
                    return s.Pos == f.Length ? "\"" : FillFormat(f, s.Pos, (char)s.Len);
                }
            case JsonMode.Number:
                return NumberAccepting(in s) ? AfterValue(in s) : "0";
            case JsonMode.Literal:
                return LitAccepting(in s) ? AfterValue(in s) : ShortestLiteralRest(in s);
            default:
                return "";
        }
    }

    /// <summary>What follows a complete value inside its container: the next required property, the missing minimum
    /// items, or the closing bracket.</summary>
    private static string AfterValue(in JsonState s)
    {
        var o = s.Container;
        switch (s.Kind)
        {
            case JsonContainer.Object:
                if (!o!.KeysConstrained) return "}";
                var r = o.NextRequired[s.Count + 1];
                return r < o.PropertyKeys.Length ? ",\"" + o.PropertyKeys[r] + ":" : "}";
            case JsonContainer.Array:
                return s.Count >= o!.MinItems ? "]" : "," + MinText(o.Items);
            default:
                return "";
        }
    }

    private static string ShortestLiteralRest(in JsonState s)
    {
        var lits = s.Lits!;
        var prefix = lits[s.LitRep].AsSpan(0, s.Pos);
        string? best = null;
        for (var j = s.LitLo; j <= s.LitHi; j++)
            if (lits[j].Length >= s.Pos && lits[j].AsSpan(0, s.Pos).SequenceEqual(prefix) && (best is null || lits[j].Length < best.Length))
                best = lits[j];
        return (best ?? lits[s.LitRep])[s.Pos..];
    }

    /// <summary>Characters finishing a pending escape (string sub-states of <see cref="StringStep"/>).</summary>
    private static string EscapeRest(byte sub) => sub switch
    {
        0 => "",
        1 => "n",
        2 => "0000",
        3 or 4 => "000",
        5 => "00",
        _ => "0",
    };

    /// <summary>The smallest valid characters for the rest of a format template, then the closing quote.</summary>
    internal static string FillFormat(string template, int from, char prev)
    {
        var sb = new StringBuilder();
        for (var i = from; i < template.Length; i++)
        {
            var c = template[i] switch
            {
                'Y' => '2',
                'D' or 'M' or 'd' or 'h' or 'H' or 'n' or 'x' => '0',
                'm' or 'e' => prev == '0' ? '1' : '0',
                var lit => lit,
            };
            sb.Append(c);
            prev = c;
        }
        return sb.Append('"').ToString();
    }
}

/// <summary>Computes, for every node of a compiled schema, its shortest complete value (<see cref="JsonSchemaNode.MinimalText"/>).</summary>
internal static class JsonMinimalValues
{
    /// <summary>Fills <see cref="JsonSchemaNode.MinimalText"/> for every node reachable from <paramref name="root"/>.</summary>
    /// <exception cref="ArgumentException">The root schema allows no finite value (e.g. an object that must contain itself).</exception>
    public static void Compute(JsonSchemaNode root)
    {
        if (root.MinimalText is not null) return;
        var nodes = Reachable(root);
        // Shortest values by relaxation: recursion is allowed, lengths only shrink, so this settles in |nodes| rounds.
        for (var round = 0; round <= nodes.Count; round++)
        {
            var changed = false;
            foreach (var n in nodes)
            {
                var text = Shortest(n);
                if (text is not null && (n.MinimalText is null || text.Length < n.MinimalText.Length))
                {
                    n.MinimalText = text;
                    changed = true;
                }
            }
            if (!changed) break;
        }
        if (root.MinimalText is null) throw new ArgumentException("The schema allows no finite JSON value (a required property or item can never end).");
    }

    private static List<JsonSchemaNode> Reachable(JsonSchemaNode root)
    {
        var seen = new HashSet<JsonSchemaNode>(ReferenceEqualityComparer.Instance);
        var list = new List<JsonSchemaNode>();
        var stack = new Stack<JsonSchemaNode>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (n is null || !seen.Add(n)) continue;
            list.Add(n);
            if (n.Items is not null) stack.Push(n.Items);
            if (n.Additional is not null) stack.Push(n.Additional);
            foreach (var p in n.PropertySchemas) stack.Push(p);
            if (n.Variants is not null) foreach (var v in n.Variants.Values) stack.Push(v);
        }
        list.Reverse(); // leaves first: fewer relaxation rounds
        return list;
    }

    private static string? Shortest(JsonSchemaNode n)
    {
        string? best = null;
        void Offer(string? t)
        {
            if (t is not null && (best is null || t.Length < best.Length)) best = t;
        }
        if (n.Literals is not null) foreach (var l in n.Literals) Offer(l);
        var t = n.Types;
        if ((t & (JsonTypes.Integer | JsonTypes.Number)) != 0) Offer("0");
        if ((t & JsonTypes.Null) != 0) Offer("null");
        if ((t & JsonTypes.Boolean) != 0) Offer("true");
        if ((t & JsonTypes.String) != 0)
            Offer(n.Format is { } f ? "\"" + JsonMachine.FillFormat(f, 0, '\0') : "\"" + new string('a', n.MinLength) + "\"");
        if ((t & JsonTypes.Array) != 0)
        {
            if (n.MinItems == 0) Offer("[]");
            else if (n.Items?.MinimalText is { } item) Offer("[" + string.Join(",", Enumerable.Repeat(item, n.MinItems)) + "]");
        }
        if ((t & JsonTypes.Object) != 0)
        {
            if (n.Variants is not null)
            {
                foreach (var v in n.Variants.Values) Offer(v.MinimalText);
            }
            else if (!n.KeysConstrained) Offer("{}");
            else
            {
                var sb = new StringBuilder("{");
                var ok = true;
                for (var i = 0; i < n.PropertyKeys.Length && ok; i++)
                {
                    if (n.NextRequired[i] != i) continue;
                    if (n.PropertySchemas[i].MinimalText is not { } value) { ok = false; break; }
                    if (sb.Length > 1) sb.Append(',');
                    sb.Append('"').Append(n.PropertyKeys[i]).Append(':').Append(value);
                }
                if (ok) Offer(sb.Append('}').ToString());
            }
        }
        return best;
    }
}
