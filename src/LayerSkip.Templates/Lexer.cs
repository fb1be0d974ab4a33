using System.Globalization;
using System.Text;

namespace LayerSkip.Templates;

internal enum TokenKind
{
    Text,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    Eof,
}

internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;

    public bool IsOp(string op) => Kind == TokenKind.Operator && Text == op;

    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    public override string ToString() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.Text => "template text",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.String => $"string '{Text}'",
        _ => $"'{Text}'",
    };
}

/// <summary>
/// Splits template source into text and tag tokens, applying whitespace control:
/// <c>{%-</c>/<c>-%}</c> (and the <c>{{</c>, <c>{#</c> forms) strip all adjacent whitespace;
/// <see cref="TemplateOptions.TrimBlocks"/> drops the first newline after a block/comment tag;
/// <see cref="TemplateOptions.LstripBlocks"/> strips spaces and tabs before a block/comment tag that starts a line;
/// <c>{%+</c>/<c>+%}</c> disable the latter two for one tag.
/// </summary>
internal sealed class Lexer
{
    private static readonly string[] Operators =
    [
        "//", "**", "==", "!=", "<=", ">=",
        "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|",
    ];

    private readonly string _src;
    private readonly TemplateOptions _options;
    private readonly List<Token> _tokens = [];
    private readonly int[] _lineStarts;

    private Lexer(string source, TemplateOptions options)
    {
        // Jinja normalises newlines to \n and, unless keep_trailing_newline, drops one trailing newline.
        source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (!options.KeepTrailingNewline && source.EndsWith('\n')) source = source[..^1];
        _src = source;
        _options = options;
        var starts = new List<int> { 0 };
        for (var i = 0; i < source.Length; i++)
            if (source[i] == '\n') starts.Add(i + 1);
        _lineStarts = [.. starts];
    }

    public static List<Token> Tokenize(string source, TemplateOptions options)
    {
        var lexer = new Lexer(source, options);
        lexer.Run();
        return lexer._tokens;
    }

    private (int Line, int Column) Location(int pos)
    {
        var idx = Array.BinarySearch(_lineStarts, pos);
        if (idx < 0) idx = ~idx - 1;
        return (idx + 1, pos - _lineStarts[idx] + 1);
    }

    private TemplateException Error(string message, int pos)
    {
        var (line, col) = Location(pos);
        return new TemplateException(message, line, col);
    }

    private void Add(TokenKind kind, string text, int pos)
    {
        var (line, col) = Location(pos);
        _tokens.Add(new Token(kind, text, line, col));
    }

    private void Run()
    {
        var pos = 0;
        var stripLeading = false; // previous tag ended with '-'
        var trimNewline = false; // previous block tag ended normally and trim_blocks is on
        while (pos <= _src.Length)
        {
            var tagStart = FindTagStart(pos);
            var textEnd = tagStart < 0 ? _src.Length : tagStart;
            var textStart = pos;
            if (stripLeading)
            {
                while (textStart < textEnd && char.IsWhiteSpace(_src[textStart])) textStart++;
            }
            else if (trimNewline && textStart < textEnd && _src[textStart] == '\n')
            {
                textStart++;
            }
            stripLeading = trimNewline = false;

            if (tagStart < 0)
            {
                if (textEnd > textStart) Add(TokenKind.Text, _src[textStart..textEnd], textStart);
                break;
            }

            var kindChar = _src[tagStart + 1];
            var modifier = tagStart + 2 < _src.Length ? _src[tagStart + 2] : '\0';
            var blockLike = kindChar is '%' or '#';
            if (modifier == '-')
            {
                while (textEnd > textStart && char.IsWhiteSpace(_src[textEnd - 1])) textEnd--;
            }
            else if (blockLike && modifier != '+' && _options.LstripBlocks)
            {
                var j = textEnd;
                while (j > textStart && _src[j - 1] is ' ' or '\t') j--;
                if (j == 0 || _src[j - 1] == '\n') textEnd = j;
            }
            if (textEnd > textStart) Add(TokenKind.Text, _src[textStart..textEnd], textStart);

            var inner = tagStart + 2 + (modifier is '-' or '+' ? 1 : 0);
            int afterTag;
            char endModifier;
            if (kindChar == '#')
            {
                var close = _src.IndexOf("#}", inner, StringComparison.Ordinal);
                if (close < 0) throw Error("Unterminated comment: missing '#}'", tagStart);
                endModifier = close > inner && _src[close - 1] is '-' or '+' ? _src[close - 1] : '\0';
                afterTag = close + 2;
            }
            else
            {
                var isBlock = kindChar == '%';
                if (isBlock && TryLexRaw(inner, tagStart, out var rawEnd, out var rawStripAfter))
                {
                    pos = rawEnd;
                    stripLeading = rawStripAfter;
                    trimNewline = !rawStripAfter && _options.TrimBlocks;
                    continue;
                }
                Add(isBlock ? TokenKind.BlockBegin : TokenKind.VariableBegin, isBlock ? "{%" : "{{", tagStart);
                afterTag = LexExpression(inner, isBlock ? '%' : '}', tagStart, out endModifier);
                Add(isBlock ? TokenKind.BlockEnd : TokenKind.VariableEnd, isBlock ? "%}" : "}}", afterTag - 2);
            }

            if (endModifier == '-') stripLeading = true;
            else if (blockLike && endModifier != '+' && _options.TrimBlocks) trimNewline = true;
            pos = afterTag;
        }
        var (line, col) = Location(_src.Length);
        _tokens.Add(new Token(TokenKind.Eof, "", line, col));
    }

    private int FindTagStart(int from)
    {
        for (var i = from; i < _src.Length - 1; i++)
        {
            if (_src[i] == '{' && _src[i + 1] is '{' or '%' or '#') return i;
        }
        return -1;
    }

    /// <summary>Handles <c>{% raw %}...{% endraw %}</c>: the body is emitted verbatim as text.</summary>
    private bool TryLexRaw(int inner, int tagStart, out int end, out bool stripAfter)
    {
        end = 0;
        stripAfter = false;
        var i = inner;
        while (i < _src.Length && char.IsWhiteSpace(_src[i])) i++;
        if (string.CompareOrdinal(_src, i, "raw", 0, 3) != 0) return false;
        i += 3;
        while (i < _src.Length && char.IsWhiteSpace(_src[i])) i++;
        var stripBody = false;
        if (i < _src.Length && _src[i] is '-' or '+')
        {
            stripBody = _src[i] == '-';
            i++;
        }
        if (string.CompareOrdinal(_src, i, "%}", 0, 2) != 0) return false;
        var bodyStart = i + 2;
        if (stripBody) while (bodyStart < _src.Length && char.IsWhiteSpace(_src[bodyStart])) bodyStart++;
        else if (_options.TrimBlocks && bodyStart < _src.Length && _src[bodyStart] == '\n') bodyStart++;
        var search = bodyStart;
        while (true)
        {
            var open = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0) throw Error("Unterminated raw block: missing '{% endraw %}'", tagStart);
            var j = open + 2;
            var stripBefore = j < _src.Length && _src[j] == '-';
            if (j < _src.Length && _src[j] is '-' or '+') j++;
            while (j < _src.Length && char.IsWhiteSpace(_src[j])) j++;
            if (string.CompareOrdinal(_src, j, "endraw", 0, 6) == 0)
            {
                j += 6;
                while (j < _src.Length && char.IsWhiteSpace(_src[j])) j++;
                if (j < _src.Length && _src[j] is '-' or '+')
                {
                    stripAfter = _src[j] == '-';
                    j++;
                }
                if (string.CompareOrdinal(_src, j, "%}", 0, 2) != 0) throw Error("Expected '%}' after endraw", j);
                var bodyEnd = open;
                if (stripBefore) while (bodyEnd > bodyStart && char.IsWhiteSpace(_src[bodyEnd - 1])) bodyEnd--;
                if (bodyEnd > bodyStart) Add(TokenKind.Text, _src[bodyStart..bodyEnd], bodyStart);
                end = j + 2;
                return true;
            }
            search = open + 2;
        }
    }

    /// <summary>Lexes expression tokens until the closing delimiter (<c>%}</c> or <c>}}</c>) at bracket depth 0; returns the position after it.</summary>
    private int LexExpression(int pos, char closeChar, int tagStart, out char endModifier)
    {
        var depth = 0;
        var brackets = new Stack<char>();
        while (true)
        {
            while (pos < _src.Length && char.IsWhiteSpace(_src[pos])) pos++;
            if (pos >= _src.Length)
                throw Error(closeChar == '%' ? "Unterminated block tag: missing '%}'" : "Unterminated expression: missing '}}'", tagStart);
            var c = _src[pos];
            if (depth == 0)
            {
                // closing delimiter, optionally preceded by a whitespace-control modifier
                if (c is '-' or '+' && Matches(pos + 1, closeChar))
                {
                    endModifier = c;
                    return pos + 3;
                }
                if (Matches(pos, closeChar))
                {
                    endModifier = '\0';
                    return pos + 2;
                }
            }
            if (char.IsLetter(c) || c == '_')
            {
                var start = pos;
                while (pos < _src.Length && (char.IsLetterOrDigit(_src[pos]) || _src[pos] == '_')) pos++;
                Add(TokenKind.Name, _src[start..pos], start);
                continue;
            }
            if (char.IsDigit(c))
            {
                pos = LexNumber(pos);
                continue;
            }
            if (c is '\'' or '"')
            {
                pos = LexString(pos);
                continue;
            }
            var op = Operators.FirstOrDefault(o => string.CompareOrdinal(_src, pos, o, 0, o.Length) == 0);
            if (op is null) throw Error($"Unexpected character '{c}'", pos);
            if (op is "(" or "[" or "{")
            {
                brackets.Push(op[0]);
                depth++;
            }
            else if (op is ")" or "]" or "}")
            {
                if (depth == 0) throw Error($"Unexpected '{op}'", pos);
                var open = brackets.Pop();
                var expected = open switch { '(' => ')', '[' => ']', _ => '}' };
                if (op[0] != expected) throw Error($"Unexpected '{op}', expected '{expected}'", pos);
                depth--;
            }
            Add(TokenKind.Operator, op, pos);
            pos += op.Length;
        }
    }

    private bool Matches(int pos, char closeChar) =>
        pos + 1 < _src.Length && _src[pos] == closeChar && _src[pos + 1] == '}';

    private int LexNumber(int pos)
    {
        var start = pos;
        while (pos < _src.Length && (char.IsDigit(_src[pos]) || _src[pos] == '_')) pos++;
        var isFloat = false;
        if (pos + 1 < _src.Length && _src[pos] == '.' && char.IsDigit(_src[pos + 1]))
        {
            isFloat = true;
            pos++;
            while (pos < _src.Length && (char.IsDigit(_src[pos]) || _src[pos] == '_')) pos++;
        }
        if (pos < _src.Length && _src[pos] is 'e' or 'E')
        {
            var p = pos + 1;
            if (p < _src.Length && _src[p] is '+' or '-') p++;
            if (p < _src.Length && char.IsDigit(_src[p]))
            {
                isFloat = true;
                pos = p;
                while (pos < _src.Length && char.IsDigit(_src[pos])) pos++;
            }
        }
        Add(isFloat ? TokenKind.Float : TokenKind.Integer, _src[start..pos].Replace("_", ""), start);
        return pos;
    }

    private int LexString(int pos)
    {
        var start = pos;
        var quote = _src[pos++];
        var sb = new StringBuilder();
        while (true)
        {
            if (pos >= _src.Length) throw Error("Unterminated string literal", start);
            var c = _src[pos++];
            if (c == quote) break;
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (pos >= _src.Length) throw Error("Unterminated string literal", start);
            var e = _src[pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '0': sb.Append('\0'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\n': break; // line continuation
                case 'x': sb.Append(HexEscape(ref pos, 2, start)); break;
                case 'u': sb.Append(HexEscape(ref pos, 4, start)); break;
                case 'U': sb.Append(HexEscape(ref pos, 8, start)); break;
                default: sb.Append('\\').Append(e); break; // Python keeps unknown escapes verbatim
            }
        }
        Add(TokenKind.String, sb.ToString(), start);
        return pos;
    }

    private string HexEscape(ref int pos, int digits, int start)
    {
        if (pos + digits > _src.Length ||
            !int.TryParse(_src.AsSpan(pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var cp))
            throw Error("Invalid escape sequence in string literal", start);
        pos += digits;
        return char.ConvertFromUtf32(cp);
    }
}
