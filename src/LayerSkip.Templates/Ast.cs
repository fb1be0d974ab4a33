namespace LayerSkip.Templates;

/// <summary>Base of all syntax-tree nodes; carries the 1-based source location for error messages.</summary>
internal abstract record Node
{
    public int Line { get; init; }

    public int Column { get; init; }
}

// ---------------- statements ----------------

internal abstract record Stmt : Node;

internal sealed record TextStmt(string Text) : Stmt;

internal sealed record OutputStmt(Expr Expr) : Stmt;

internal sealed record IfStmt(List<(Expr Test, List<Stmt> Body)> Branches, List<Stmt>? Else) : Stmt;

/// <summary><c>{% for targets in iter [if filter] %} body [{% else %} else] {% endfor %}</c>.</summary>
internal sealed record ForStmt(List<string> Targets, Expr Iter, Expr? Filter, List<Stmt> Body, List<Stmt>? Else) : Stmt;

/// <summary><c>{% set target = value %}</c> where target is a name, <c>ns.attr</c>, or a tuple of names.</summary>
internal sealed record SetStmt(AssignTarget Target, Expr Value) : Stmt;

/// <summary><c>{% set name %}...{% endset %}</c>, optionally piped through filters.</summary>
internal sealed record SetBlockStmt(AssignTarget Target, List<Stmt> Body, List<FilterExpr> Filters) : Stmt;

internal sealed record MacroStmt(string Name, List<(string Name, Expr? Default)> Params, List<Stmt> Body) : Stmt;

/// <summary><c>{% filter name(args) %}...{% endfilter %}</c>; <see cref="Filter"/>'s operand is a placeholder.</summary>
internal sealed record FilterBlockStmt(FilterExpr Filter, List<Stmt> Body) : Stmt;

internal sealed record BreakStmt : Stmt;

internal sealed record ContinueStmt : Stmt;

/// <summary>Statements rendered as-is (e.g. HF's <c>{% generation %}</c> marker).</summary>
internal sealed record BlockStmt(List<Stmt> Body) : Stmt;

internal abstract record AssignTarget;

internal sealed record NameTarget(string Name) : AssignTarget;

internal sealed record AttrTarget(string Object, string Attr) : AssignTarget;

internal sealed record TupleTarget(List<string> Names) : AssignTarget;

// ---------------- expressions ----------------

internal abstract record Expr : Node;

internal sealed record LiteralExpr(Value Value) : Expr;

internal sealed record NameExpr(string Name) : Expr;

internal sealed record ListExpr(List<Expr> Items, bool IsTuple) : Expr;

internal sealed record DictExpr(List<(Expr Key, Expr Value)> Items) : Expr;

internal sealed record AttrExpr(Expr Object, string Name) : Expr;

internal sealed record ItemExpr(Expr Object, Expr Index) : Expr;

internal sealed record SliceExpr(Expr Object, Expr? Start, Expr? Stop, Expr? Step) : Expr;

internal sealed record CallExpr(Expr Callee, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;

internal sealed record FilterExpr(Expr Operand, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;

internal sealed record TestExpr(Expr Operand, string Name, List<Expr> Args, bool Negated) : Expr;

internal sealed record UnaryExpr(string Op, Expr Operand) : Expr;

internal sealed record BinaryExpr(string Op, Expr Left, Expr Right) : Expr;

/// <summary>Chained comparison <c>a &lt; b &lt;= c</c>; ops include <c>in</c> and <c>not in</c>.</summary>
internal sealed record CompareExpr(Expr First, List<(string Op, Expr Operand)> Rest) : Expr;

internal sealed record AndExpr(Expr Left, Expr Right) : Expr;

internal sealed record OrExpr(Expr Left, Expr Right) : Expr;

internal sealed record NotExpr(Expr Operand) : Expr;

internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else) : Expr;
