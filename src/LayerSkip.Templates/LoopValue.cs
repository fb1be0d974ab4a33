namespace LayerSkip.Templates;

/// <summary>The <c>loop</c> variable inside a for loop.</summary>
internal sealed class LoopValue(List<Value> items) : Value
{
    public int Index0 { get; set; }

    public int Length => items.Count;

    public override bool IsTruthy => true;

    public override string TypeName => "LoopContext";

    public Value GetAttribute(string name) => name switch
    {
        "index" => Int(Index0 + 1),
        "index0" => Int(Index0),
        "revindex" => Int(Length - Index0),
        "revindex0" => Int(Length - Index0 - 1),
        "first" => Bool(Index0 == 0),
        "last" => Bool(Index0 == Length - 1),
        "length" => Int(Length),
        "depth" => Int(1),
        "depth0" => Int(0),
        "previtem" => Index0 > 0 ? items[Index0 - 1] : Undefined("loop.previtem"),
        "nextitem" => Index0 + 1 < Length ? items[Index0 + 1] : Undefined("loop.nextitem"),
        "cycle" => new CallableValue("loop.cycle", a =>
            a.Positional.Count == 0 ? throw new TemplateException("loop.cycle() needs at least one argument") : a.Positional[Index0 % a.Positional.Count]),
        _ => Undefined("loop." + name),
    };
}
