namespace LayerSkip.Templates;

internal sealed class NoneValue : Value
{
    public static readonly NoneValue Instance = new();

    public override bool IsTruthy => false;

    public override string TypeName => "NoneType";

    public override bool Equals(object? obj) => obj is NoneValue;

    public override int GetHashCode() => 0x0e0e;
}
