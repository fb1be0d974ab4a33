namespace LayerSkip.Templates;

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
