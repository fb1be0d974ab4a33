namespace LayerSkip.Templates;

internal sealed class BoolValue : Value
{
    public static readonly BoolValue True = new(true);
    public static readonly BoolValue False = new(false);

    private BoolValue(bool v) => V = v;

    public bool V { get; }

    public override bool IsTruthy => V;

    public override string TypeName => "bool";

    public override object? ToObject() => V;

    public override bool Equals(object? obj) => obj is BoolValue b && b.V == V;

    public override int GetHashCode() => V ? 1 : 0;
}
