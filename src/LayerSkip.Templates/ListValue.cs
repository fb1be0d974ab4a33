namespace LayerSkip.Templates;

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
