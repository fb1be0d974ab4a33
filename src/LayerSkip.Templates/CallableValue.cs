namespace LayerSkip.Templates;

internal sealed class CallableValue(string name, Func<CallArgs, Value> invoke) : Value
{
    public string Name { get; } = name;

    public Func<CallArgs, Value> Invoke { get; } = invoke;

    public override bool IsTruthy => true;

    public override string TypeName => "function";

    public static CallableValue FromHost(TemplateFunction f) => new(f.Method.Name, args =>
    {
        var kw = new Dictionary<string, object?>();
        foreach (var kv in args.Keywords) kw[kv.Key] = kv.Value.ToObject();
        return From(f(args.Positional.Select(p => p.ToObject()).ToList(), kw));
    });
}
