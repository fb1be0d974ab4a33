namespace LayerSkip.Templates;

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
