namespace LayerSkip.Templates;

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
