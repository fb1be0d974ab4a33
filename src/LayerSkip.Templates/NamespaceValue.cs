namespace LayerSkip.Templates;

/// <summary>Jinja's <c>namespace()</c>: a mutable attribute bag that survives scopes.</summary>
internal sealed class NamespaceValue : DictValue
{
    public override bool IsTruthy => true;

    public override string TypeName => "Namespace";

    public override bool Equals(object? obj) => ReferenceEquals(this, obj);

    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
}
