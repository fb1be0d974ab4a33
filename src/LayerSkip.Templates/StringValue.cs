namespace LayerSkip.Templates;

internal sealed class StringValue(string v) : Value
{
    public static readonly StringValue Empty = new("");

    public string V { get; } = v;

    public override bool IsTruthy => V.Length != 0;

    public override string TypeName => "str";

    public override object? ToObject() => V;

    public override bool Equals(object? obj) => obj is StringValue s && string.Equals(s.V, V, StringComparison.Ordinal);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(V);
}
