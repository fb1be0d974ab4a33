namespace LayerSkip.Templates;

internal sealed class UndefinedValue : Value
{
    public static readonly UndefinedValue Instance = new(null);

    public UndefinedValue(string? hint) => Hint = hint;

    /// <summary>What was looked up, for error messages.</summary>
    public string? Hint { get; }

    public override bool IsTruthy => false;

    public override string TypeName => "undefined";

    public override bool Equals(object? obj) => obj is UndefinedValue;

    public override int GetHashCode() => 0x5eed;
}
