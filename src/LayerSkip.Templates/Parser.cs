using System.Globalization;

namespace LayerSkip.Templates;

/// <summary>Recursive-descent parser from tokens to the AST, following Jinja's operator precedence:
/// conditional &lt; or &lt; and &lt; not &lt; comparison/in &lt; + - &lt; ~ &lt; * / // % &lt; ** &lt; unary &lt; postfix, filters and tests.</summary>
internal sealed class Parser
{
    private static readonly HashSet<string> CompareOps = ["==", "!=", "<", ">", "<=", ">="];

    private readonly List<Token> _tokens;
    private int _pos;

    private Parser(List<Token> tokens) => _tokens = tokens;

    public static List<Stmt> Parse(List<Token> tokens)
    {
        var p = new Parser(tokens);
        var body = p.ParseBody([], out _);
        return body;
    }

    private Token Current => _tokens[_pos];

    private Token Peek(int n = 1) => _tokens[Math.Min(_pos + n, _tokens.Count - 1)];

    private Token Next() => _tokens[_pos++];

    private static TemplateException Error(string message, Token at) => new(message, at.Line, at.Column);

    private Token Expect(TokenKind kind, string? text = null)
    {
        var t = Current;
        if (t.Kind != kind || (text is not null && t.Text != text))
        {
            var want = text is not null ? $"'{text}'" : kind switch
            {
                TokenKind.Name => "a name",
                TokenKind.BlockEnd => "'%}'",
                TokenKind.VariableEnd => "'}}'",
                _ => kind.ToString(),
            };
            throw Error($"Expected {want} but found {t}", t);
        }
        _pos++;
        return t;
    }

    private bool AcceptOp(string op)
    {
        if (!Current.IsOp(op)) return false;
        _pos++;
        return true;
    }

    private bool AcceptName(string name)
    {
        if (!Current.IsName(name)) return false;
        _pos++;
        return true;
    }

    private static T At<T>(T node, Token t) where T : Node => node with { Line = t.Line, Column = t.Column };

    // ---------------- statements ----------------

    /// <summary>Parses statements until EOF or a block tag whose keyword is in <paramref name="endTags"/> (left unconsumed after its '{%').</summary>
    private List<Stmt> ParseBody(string[] endTags, out string? endTag)
    {
        var body = new List<Stmt>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Eof:
                    if (endTags.Length > 0)
                        throw Error($"Unexpected end of template: expected {string.Join(" or ", endTags.Select(e => $"'{{% {e} %}}'"))}", t);
                    endTag = null;
                    return body;
                case TokenKind.Text:
                    _pos++;
                    body.Add(At(new TextStmt(t.Text), t));
                    break;
                case TokenKind.VariableBegin:
                {
                    _pos++;
                    var e = ParseTuple(allowCondition: true);
                    Expect(TokenKind.VariableEnd);
                    body.Add(At(new OutputStmt(e), t));
                    break;
                }
                case TokenKind.BlockBegin:
                {
                    var kw = Peek();
                    if (kw.Kind == TokenKind.Name && endTags.Contains(kw.Text))
                    {
                        _pos += 2;
                        endTag = kw.Text;
                        return body;
                    }
                    _pos++;
                    body.Add(ParseStatement(t));
                    break;
                }
                default:
                    throw Error($"Unexpected {t}", t);
            }
        }
    }

    private Stmt ParseStatement(Token begin)
    {
        var kw = Current;
        if (kw.Kind != TokenKind.Name) throw Error($"Expected a statement keyword but found {kw}", kw);
        _pos++;
        switch (kw.Text)
        {
            case "if": return ParseIf(begin);
            case "for": return ParseFor(begin);
            case "set": return ParseSet(begin);
            case "macro": return ParseMacro(begin);
            case "filter": return ParseFilterBlock(begin);
            case "break":
                Expect(TokenKind.BlockEnd);
                return At(new BreakStmt(), begin);
            case "continue":
                Expect(TokenKind.BlockEnd);
                return At(new ContinueStmt(), begin);
            case "generation":
            {
                Expect(TokenKind.BlockEnd);
                var body = ParseBody(["endgeneration"], out _);
                Expect(TokenKind.BlockEnd);
                return At(new BlockStmt(body), begin);
            }
            case "elif" or "else" or "endif" or "endfor" or "endset" or "endmacro" or "endfilter" or "endgeneration":
                throw Error($"Unexpected '{{% {kw.Text} %}}' without a matching opening tag", kw);
            default:
                throw Error($"Unknown or unsupported tag '{kw.Text}'", kw);
        }
    }

    private Stmt ParseIf(Token begin)
    {
        var branches = new List<(Expr, List<Stmt>)>();
        List<Stmt>? elseBody = null;
        var test = ParseTuple(allowCondition: false);
        Expect(TokenKind.BlockEnd);
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], out var tag);
            branches.Add((test, body));
            if (tag == "elif")
            {
                test = ParseTuple(allowCondition: false);
                Expect(TokenKind.BlockEnd);
                continue;
            }
            Expect(TokenKind.BlockEnd);
            if (tag == "else")
            {
                elseBody = ParseBody(["endif"], out _);
                Expect(TokenKind.BlockEnd);
            }
            return At(new IfStmt(branches, elseBody), begin);
        }
    }

    private Stmt ParseFor(Token begin)
    {
        var targets = new List<string>();
        var parens = AcceptOp("(");
        do
        {
            targets.Add(Expect(TokenKind.Name).Text);
        } while (AcceptOp(","));
        if (parens) Expect(TokenKind.Operator, ")");
        Expect(TokenKind.Name, "in");
        var iter = ParseTuple(allowCondition: false);
        Expr? filter = null;
        if (AcceptName("if")) filter = ParseExpression(allowCondition: true);
        if (Current.IsName("recursive")) throw Error("Recursive loops are not supported", Current);
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["else", "endfor"], out var tag);
        Expect(TokenKind.BlockEnd);
        List<Stmt>? elseBody = null;
        if (tag == "else")
        {
            elseBody = ParseBody(["endfor"], out _);
            Expect(TokenKind.BlockEnd);
        }
        return At(new ForStmt(targets, iter, filter, body, elseBody), begin);
    }

    private Stmt ParseSet(Token begin)
    {
        AssignTarget target;
        var first = Expect(TokenKind.Name);
        if (AcceptOp("."))
        {
            target = new AttrTarget(first.Text, Expect(TokenKind.Name).Text);
        }
        else if (Current.IsOp(","))
        {
            var names = new List<string> { first.Text };
            while (AcceptOp(",")) names.Add(Expect(TokenKind.Name).Text);
            target = new TupleTarget(names);
        }
        else
        {
            target = new NameTarget(first.Text);
        }

        if (AcceptOp("="))
        {
            var value = ParseTuple(allowCondition: true);
            Expect(TokenKind.BlockEnd);
            return At(new SetStmt(target, value), begin);
        }

        var filters = new List<FilterExpr>();
        while (AcceptOp("|")) filters.Add(ParseFilter(new LiteralExpr(Value.None)));
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endset"], out _);
        Expect(TokenKind.BlockEnd);
        return At(new SetBlockStmt(target, body, filters), begin);
    }

    private Stmt ParseMacro(Token begin)
    {
        var name = Expect(TokenKind.Name).Text;
        var parameters = new List<(string, Expr?)>();
        Expect(TokenKind.Operator, "(");
        while (!Current.IsOp(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",");
            if (Current.IsOp(")")) break;
            var p = Expect(TokenKind.Name).Text;
            Expr? def = null;
            if (AcceptOp("=")) def = ParseExpression(allowCondition: true);
            parameters.Add((p, def));
        }
        Expect(TokenKind.Operator, ")");
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endmacro"], out _);
        if (Current.Kind == TokenKind.Name && Current.Text == name) _pos++;
        Expect(TokenKind.BlockEnd);
        return At(new MacroStmt(name, parameters, body), begin);
    }

    private Stmt ParseFilterBlock(Token begin)
    {
        var filter = ParseFilter(new LiteralExpr(Value.None));
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endfilter"], out _);
        Expect(TokenKind.BlockEnd);
        return At(new FilterBlockStmt(filter, body), begin);
    }

    // ---------------- expressions ----------------

    /// <summary>An expression, or an unparenthesised tuple <c>a, b</c>.</summary>
    private Expr ParseTuple(bool allowCondition)
    {
        var start = Current;
        var first = ParseExpression(allowCondition);
        if (!Current.IsOp(",")) return first;
        var items = new List<Expr> { first };
        while (AcceptOp(","))
        {
            if (Current.Kind is TokenKind.BlockEnd or TokenKind.VariableEnd) break;
            items.Add(ParseExpression(allowCondition));
        }
        return At(new ListExpr(items, IsTuple: true), start);
    }

    private Expr ParseExpression(bool allowCondition = true)
    {
        var start = Current;
        var expr = ParseOr();
        if (!allowCondition) return expr;
        while (Current.IsName("if"))
        {
            _pos++;
            var test = ParseOr();
            Expr? otherwise = null;
            if (AcceptName("else")) otherwise = ParseExpression();
            expr = At(new CondExpr(test, expr, otherwise), start);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var t = Next();
            left = At(new OrExpr(left, ParseAnd()), t);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var t = Next();
            left = At(new AndExpr(left, ParseNot()), t);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            var t = Next();
            return At(new NotExpr(ParseNot()), t);
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var start = Current;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && CompareOps.Contains(Current.Text))
            {
                var op = Next().Text;
                rest.Add((op, ParseMath1()));
            }
            else if (Current.IsName("in"))
            {
                _pos++;
                rest.Add(("in", ParseMath1()));
            }
            else if (Current.IsName("not") && Peek().IsName("in"))
            {
                _pos += 2;
                rest.Add(("not in", ParseMath1()));
            }
            else
            {
                break;
            }
        }
        return rest.Count == 0 ? first : At(new CompareExpr(first, rest), start);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.IsOp("+") || Current.IsOp("-"))
        {
            var t = Next();
            left = At(new BinaryExpr(t.Text, left, ParseConcat()), t);
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (Current.IsOp("~"))
        {
            var t = Next();
            left = At(new BinaryExpr("~", left, ParseMath2()), t);
        }
        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.IsOp("*") || Current.IsOp("/") || Current.IsOp("//") || Current.IsOp("%"))
        {
            var t = Next();
            left = At(new BinaryExpr(t.Text, left, ParsePow()), t);
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOp("**"))
        {
            var t = Next();
            left = At(new BinaryExpr("**", left, ParseUnary(withFilter: true)), t);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        var t = Current;
        Expr node;
        if (t.IsOp("-") || t.IsOp("+"))
        {
            _pos++;
            node = At(new UnaryExpr(t.Text, ParseUnary(withFilter: false)), t);
        }
        else
        {
            node = ParsePostfix(ParsePrimary());
        }
        return withFilter ? ParseFilterAndTests(node) : node;
    }

    private Expr ParsePrimary()
    {
        var t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                _pos++;
                return t.Text switch
                {
                    "true" or "True" => At(new LiteralExpr(Value.Bool(true)), t),
                    "false" or "False" => At(new LiteralExpr(Value.Bool(false)), t),
                    "none" or "None" => At(new LiteralExpr(Value.None), t),
                    _ => At(new NameExpr(t.Text), t),
                };
            case TokenKind.String:
            {
                _pos++;
                var s = t.Text;
                while (Current.Kind == TokenKind.String) s += Next().Text;
                return At(new LiteralExpr(new StringValue(s)), t);
            }
            case TokenKind.Integer:
                _pos++;
                return long.TryParse(t.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var i)
                    ? At(new LiteralExpr(new IntValue(i)), t)
                    : At(new LiteralExpr(new FloatValue(double.Parse(t.Text, CultureInfo.InvariantCulture))), t);
            case TokenKind.Float:
                _pos++;
                return At(new LiteralExpr(new FloatValue(double.Parse(t.Text, NumberStyles.Float, CultureInfo.InvariantCulture))), t);
            case TokenKind.Operator when t.Text == "(":
            {
                _pos++;
                if (AcceptOp(")")) return At(new ListExpr([], IsTuple: true), t);
                var first = ParseExpression();
                if (AcceptOp(")")) return first;
                var items = new List<Expr> { first };
                while (AcceptOp(","))
                {
                    if (Current.IsOp(")")) break;
                    items.Add(ParseExpression());
                }
                Expect(TokenKind.Operator, ")");
                return At(new ListExpr(items, IsTuple: true), t);
            }
            case TokenKind.Operator when t.Text == "[":
            {
                _pos++;
                var items = new List<Expr>();
                while (!Current.IsOp("]"))
                {
                    if (items.Count > 0)
                    {
                        Expect(TokenKind.Operator, ",");
                        if (Current.IsOp("]")) break;
                    }
                    items.Add(ParseExpression());
                }
                Expect(TokenKind.Operator, "]");
                return At(new ListExpr(items, IsTuple: false), t);
            }
            case TokenKind.Operator when t.Text == "{":
            {
                _pos++;
                var items = new List<(Expr, Expr)>();
                while (!Current.IsOp("}"))
                {
                    if (items.Count > 0)
                    {
                        Expect(TokenKind.Operator, ",");
                        if (Current.IsOp("}")) break;
                    }
                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    items.Add((key, ParseExpression()));
                }
                Expect(TokenKind.Operator, "}");
                return At(new DictExpr(items), t);
            }
            default:
                throw Error($"Expected an expression but found {t}", t);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOp("."))
            {
                _pos++;
                var name = Current;
                if (name.Kind == TokenKind.Name)
                {
                    _pos++;
                    node = At(new AttrExpr(node, name.Text), name);
                }
                else if (name.Kind == TokenKind.Integer)
                {
                    _pos++;
                    node = At(new ItemExpr(node, new LiteralExpr(new IntValue(long.Parse(name.Text, CultureInfo.InvariantCulture)))), name);
                }
                else
                {
                    throw Error($"Expected an attribute name after '.' but found {name}", name);
                }
            }
            else if (t.IsOp("["))
            {
                _pos++;
                node = ParseSubscript(node, t);
            }
            else if (t.IsOp("("))
            {
                node = ParseCall(node);
            }
            else
            {
                return node;
            }
        }
    }

    private Expr ParseSubscript(Expr target, Token open)
    {
        Expr? start = null;
        if (!Current.IsOp(":")) start = ParseExpression();
        if (AcceptOp("]")) return At(new ItemExpr(target, start!), open);
        Expect(TokenKind.Operator, ":");
        Expr? stop = null, step = null;
        if (!Current.IsOp(":") && !Current.IsOp("]")) stop = ParseExpression();
        if (AcceptOp(":"))
        {
            if (!Current.IsOp("]")) step = ParseExpression();
        }
        Expect(TokenKind.Operator, "]");
        return At(new SliceExpr(target, start, stop, step), open);
    }

    private (List<Expr> Args, List<(string, Expr)> Kwargs) ParseArgs()
    {
        Expect(TokenKind.Operator, "(");
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!Current.IsOp(")"))
        {
            if (args.Count + kwargs.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
                if (Current.IsOp(")")) break;
            }
            if (Current.Kind == TokenKind.Name && Peek().IsOp("="))
            {
                var name = Next().Text;
                _pos++;
                kwargs.Add((name, ParseExpression()));
            }
            else
            {
                if (kwargs.Count > 0) throw Error("Positional argument follows keyword argument", Current);
                args.Add(ParseExpression());
            }
        }
        Expect(TokenKind.Operator, ")");
        return (args, kwargs);
    }

    private Expr ParseCall(Expr callee)
    {
        var t = Current;
        var (args, kwargs) = ParseArgs();
        return At(new CallExpr(callee, args, kwargs), t);
    }

    private Expr ParseFilterAndTests(Expr node)
    {
        while (true)
        {
            if (AcceptOp("|"))
            {
                node = ParseFilter(node);
            }
            else if (Current.IsName("is"))
            {
                var t = Next();
                var negated = AcceptName("not");
                var nameTok = Expect(TokenKind.Name);
                var args = new List<Expr>();
                if (Current.IsOp("("))
                {
                    var (a, _) = ParseArgs();
                    args = a;
                }
                else if (Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                         || Current.IsOp("[") || Current.IsOp("{"))
                {
                    if (!(Current.Kind == TokenKind.Name && Current.Text is "else" or "or" or "and" or "if" or "is" or "in" or "not"))
                        args.Add(ParsePostfix(ParsePrimary()));
                }
                node = At(new TestExpr(node, nameTok.Text, args, negated), nameTok);
                _ = t;
            }
            else if (Current.IsOp("("))
            {
                node = ParseCall(node);
            }
            else
            {
                return node;
            }
        }
    }

    private FilterExpr ParseFilter(Expr operand)
    {
        var nameTok = Expect(TokenKind.Name);
        var name = nameTok.Text;
        while (Current.IsOp(".") && Peek().Kind == TokenKind.Name)
        {
            _pos++;
            name += "." + Next().Text;
        }
        List<Expr> args = [];
        List<(string, Expr)> kwargs = [];
        if (Current.IsOp("(")) (args, kwargs) = ParseArgs();
        return At(new FilterExpr(operand, name, args, kwargs), nameTok);
    }
}
