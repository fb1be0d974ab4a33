using System.Text;

namespace LayerSkip.Templates;

/// <summary>Variable scope chain. For-loop iterations and macro calls open a child scope; <c>set</c> writes to the innermost.</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, Value> _vars = new(StringComparer.Ordinal);

    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out Value value)
    {
        for (var s = this; s != null; s = s.Parent)
            if (s._vars.TryGetValue(name, out value!)) return true;
        value = null!;
        return false;
    }

    public void Set(string name, Value value) => _vars[name] = value;
}

/// <summary>Tree-walking interpreter: renders statements into a StringBuilder and evaluates expressions to <see cref="Value"/>s.</summary>
internal sealed class Evaluator
{
    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    private const int MaxCallDepth = 200;

    private readonly Builtins _builtins;
    private int _callDepth;

    public Evaluator(TemplateOptions options)
    {
        _builtins = new Builtins(options);
    }

    public string Render(List<Stmt> body, IReadOnlyDictionary<string, object?> context)
    {
        var globals = new Scope(null);
        _builtins.AddGlobals(globals);
        var root = new Scope(globals);
        foreach (var kv in context) root.Set(kv.Key, Value.From(kv.Value));
        var sb = new StringBuilder();
        var flow = Exec(body, root, sb);
        if (flow != Flow.Normal) throw new TemplateException($"'{(flow == Flow.Break ? "break" : "continue")}' outside of a loop");
        return sb.ToString();
    }

    // ---------------- statements ----------------

    private Flow Exec(List<Stmt> body, Scope scope, StringBuilder sb)
    {
        foreach (var stmt in body)
        {
            var flow = Exec(stmt, scope, sb);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(Stmt stmt, Scope scope, StringBuilder sb)
    {
        try
        {
            switch (stmt)
            {
                case TextStmt t:
                    sb.Append(t.Text);
                    return Flow.Normal;
                case OutputStmt o:
                    sb.Append(Python.Str(Eval(o.Expr, scope)));
                    return Flow.Normal;
                case IfStmt i:
                    foreach (var (test, branch) in i.Branches)
                        if (Eval(test, scope).IsTruthy) return Exec(branch, scope, sb);
                    return i.Else is null ? Flow.Normal : Exec(i.Else, scope, sb);
                case ForStmt f:
                    ExecFor(f, scope, sb);
                    return Flow.Normal;
                case SetStmt s:
                    Assign(s.Target, Eval(s.Value, scope), scope, s);
                    return Flow.Normal;
                case SetBlockStmt sbk:
                {
                    var inner = new StringBuilder();
                    Exec(sbk.Body, scope, inner);
                    Value v = new StringValue(inner.ToString());
                    foreach (var filter in sbk.Filters) v = ApplyFilter(filter, v, scope);
                    Assign(sbk.Target, v, scope, sbk);
                    return Flow.Normal;
                }
                case FilterBlockStmt fb:
                {
                    var inner = new StringBuilder();
                    Exec(fb.Body, scope, inner);
                    sb.Append(Python.Str(ApplyFilter(fb.Filter, new StringValue(inner.ToString()), scope)));
                    return Flow.Normal;
                }
                case MacroStmt m:
                    scope.Set(m.Name, MakeMacro(m, scope));
                    return Flow.Normal;
                case BlockStmt b:
                    return Exec(b.Body, scope, sb);
                case BreakStmt:
                    return Flow.Break;
                case ContinueStmt:
                    return Flow.Continue;
                default:
                    throw new TemplateException($"Unsupported statement {stmt.GetType().Name}");
            }
        }
        catch (TemplateException ex) when (!ex.HasLocation)
        {
            throw ex.WithLocation(stmt.Line, stmt.Column);
        }
    }

    private void ExecFor(ForStmt f, Scope scope, StringBuilder sb)
    {
        var iterable = Eval(f.Iter, scope);
        var items = Builtins.Iterate(iterable);
        if (f.Filter is not null)
        {
            var filtered = new List<Value>();
            foreach (var item in items)
            {
                var s = new Scope(scope);
                Bind(f.Targets, item, s);
                if (Eval(f.Filter, s).IsTruthy) filtered.Add(item);
            }
            items = filtered;
        }
        else
        {
            items = [.. items]; // snapshot
        }

        if (items.Count == 0)
        {
            if (f.Else is not null) Exec(f.Else, scope, sb);
            return;
        }

        var loop = new LoopValue(items);
        for (var i = 0; i < items.Count; i++)
        {
            loop.Index0 = i;
            var iterScope = new Scope(scope);
            iterScope.Set("loop", loop);
            Bind(f.Targets, items[i], iterScope);
            var flow = Exec(f.Body, iterScope, sb);
            if (flow == Flow.Break) break;
        }
    }

    private static void Bind(List<string> targets, Value item, Scope scope)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], item);
            return;
        }
        var parts = Builtins.Iterate(item);
        if (parts.Count != targets.Count)
            throw new TemplateException($"Cannot unpack {parts.Count} values into {targets.Count} loop variables");
        for (var i = 0; i < targets.Count; i++) scope.Set(targets[i], parts[i]);
    }

    private void Assign(AssignTarget target, Value value, Scope scope, Node at)
    {
        switch (target)
        {
            case NameTarget n:
                scope.Set(n.Name, value);
                break;
            case TupleTarget t:
                Bind(t.Names, value, scope);
                break;
            case AttrTarget a:
                if (!scope.TryGet(a.Object, out var obj) || obj is not NamespaceValue ns)
                    throw new TemplateException($"Cannot assign attribute on non-namespace object '{a.Object}'", at.Line, at.Column);
                ns.Set(new StringValue(a.Attr), value);
                break;
        }
    }

    private CallableValue MakeMacro(MacroStmt m, Scope definingScope) => new(m.Name, args =>
    {
        if (++_callDepth > MaxCallDepth) throw new TemplateException("Maximum macro recursion depth exceeded");
        try
        {
            var s = new Scope(definingScope);
            var extra = new List<Value>();
            for (var i = 0; i < args.Positional.Count; i++)
            {
                if (i < m.Params.Count) s.Set(m.Params[i].Name, args.Positional[i]);
                else extra.Add(args.Positional[i]);
            }
            var kwargs = new DictValue();
            foreach (var kv in args.Keywords)
            {
                if (m.Params.Any(p => p.Name == kv.Key)) s.Set(kv.Key, kv.Value);
                else kwargs.Set(new StringValue(kv.Key), kv.Value);
            }
            for (var i = 0; i < m.Params.Count; i++)
            {
                var p = m.Params[i];
                if (i < args.Positional.Count || args.Keywords.Any(k => k.Key == p.Name)) continue;
                s.Set(p.Name, p.Default is null ? Value.Undefined(p.Name) : Eval(p.Default, s));
            }
            s.Set("varargs", new ListValue(extra, isTuple: true));
            s.Set("kwargs", kwargs);
            var sb = new StringBuilder();
            Exec(m.Body, s, sb);
            return new StringValue(sb.ToString());
        }
        finally
        {
            _callDepth--;
        }
    });

    // ---------------- expressions ----------------

    public Value Eval(Expr expr, Scope scope)
    {
        try
        {
            return EvalCore(expr, scope);
        }
        catch (TemplateException ex) when (!ex.HasLocation)
        {
            throw ex.WithLocation(expr.Line, expr.Column);
        }
    }

    private Value EvalCore(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr l:
                return l.Value;
            case NameExpr n:
                return scope.TryGet(n.Name, out var v) ? v : Value.Undefined(n.Name);
            case ListExpr l:
                return new ListValue(l.Items.Select(i => Eval(i, scope)).ToList(), l.IsTuple);
            case DictExpr d:
            {
                var dict = new DictValue();
                foreach (var (k, val) in d.Items) dict.Set(Eval(k, scope), Eval(val, scope));
                return dict;
            }
            case AttrExpr a:
                return _builtins.GetAttr(Eval(a.Object, scope), a.Name);
            case ItemExpr it:
                return Builtins.GetItem(Eval(it.Object, scope), Eval(it.Index, scope));
            case SliceExpr s:
                return Builtins.Slice(Eval(s.Object, scope), EvalOpt(s.Start, scope), EvalOpt(s.Stop, scope), EvalOpt(s.Step, scope));
            case CallExpr c:
            {
                var callee = Eval(c.Callee, scope);
                var args = new CallArgs(
                    c.Args.Select(a => Eval(a, scope)).ToList(),
                    c.Kwargs.Select(k => new KeyValuePair<string, Value>(k.Name, Eval(k.Value, scope))).ToList());
                return callee switch
                {
                    CallableValue f => f.Invoke(args),
                    UndefinedValue u => throw new TemplateException($"'{u.Hint ?? DescribeCallee(c.Callee)}' is undefined"),
                    _ => throw new TemplateException($"'{DescribeCallee(c.Callee)}' ({callee.TypeName}) is not callable"),
                };
            }
            case FilterExpr f:
                return ApplyFilter(f, Eval(f.Operand, scope), scope);
            case TestExpr t:
            {
                var operand = Eval(t.Operand, scope);
                var result = _builtins.ApplyTest(t.Name, operand, t.Args.Select(a => Eval(a, scope)).ToList());
                return Value.Bool(result != t.Negated);
            }
            case UnaryExpr u:
            {
                var operand = Eval(u.Operand, scope);
                return u.Op == "-" ? Builtins.Negate(operand) : Python.IsNumber(operand)
                    ? operand is BoolValue b ? Value.Int(b.V ? 1 : 0) : operand
                    : throw new TemplateException($"bad operand type for unary +: '{operand.TypeName}'");
            }
            case BinaryExpr b:
                return Builtins.Binary(b.Op, Eval(b.Left, scope), Eval(b.Right, scope));
            case CompareExpr c:
            {
                var left = Eval(c.First, scope);
                foreach (var (op, operandExpr) in c.Rest)
                {
                    var right = Eval(operandExpr, scope);
                    if (!Builtins.Compare(op, left, right)) return Value.Bool(false);
                    left = right;
                }
                return Value.Bool(true);
            }
            case AndExpr a:
            {
                var left = Eval(a.Left, scope);
                return left.IsTruthy ? Eval(a.Right, scope) : left;
            }
            case OrExpr o:
            {
                var left = Eval(o.Left, scope);
                return left.IsTruthy ? left : Eval(o.Right, scope);
            }
            case NotExpr n:
                return Value.Bool(!Eval(n.Operand, scope).IsTruthy);
            case CondExpr c:
                return Eval(c.Test, scope).IsTruthy ? Eval(c.Then, scope) : c.Else is null ? Value.Undefined() : Eval(c.Else, scope);
            default:
                throw new TemplateException($"Unsupported expression {expr.GetType().Name}");
        }
    }

    private Value? EvalOpt(Expr? e, Scope scope) => e is null ? null : Eval(e, scope);

    private Value ApplyFilter(FilterExpr f, Value operand, Scope scope)
    {
        var args = new CallArgs(
            f.Args.Select(a => Eval(a, scope)).ToList(),
            f.Kwargs.Select(k => new KeyValuePair<string, Value>(k.Name, Eval(k.Value, scope))).ToList());
        try
        {
            return _builtins.ApplyFilter(f.Name, operand, args);
        }
        catch (TemplateException ex) when (!ex.HasLocation)
        {
            throw ex.WithLocation(f.Line, f.Column);
        }
    }

    private static string DescribeCallee(Expr e) => e switch
    {
        NameExpr n => n.Name,
        AttrExpr a => DescribeCallee(a.Object) + "." + a.Name,
        _ => "expression",
    };

    /// <summary>Calls a callable value (used by filters such as <c>map</c> on macros).</summary>
    public static Value Call(Value callee, CallArgs args) => callee is CallableValue c
        ? c.Invoke(args)
        : throw new TemplateException($"{callee.TypeName} is not callable");
}
