namespace LayerSkip.Templates;

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
