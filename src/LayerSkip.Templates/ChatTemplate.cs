namespace LayerSkip.Templates;

/// <summary>
/// A parsed Hugging Face chat template (the Jinja subset those templates use). Parse once, render many times;
/// instances are immutable and safe to render from several threads.
/// </summary>
/// <example>
/// <code>
/// var template = ChatTemplate.Parse(tokenizerConfig["chat_template"]);
/// var prompt = template.Render(new Dictionary&lt;string, object?&gt;
/// {
///     ["messages"] = messages,
///     ["add_generation_prompt"] = true,
/// });
/// </code>
/// </example>
public sealed class ChatTemplate
{
    private readonly List<Stmt> _body;

    private ChatTemplate(string source, List<Stmt> body, TemplateOptions options)
    {
        Source = source;
        _body = body;
        Options = options;
    }

    public string Source { get; }

    internal TemplateOptions Options { get; }

    /// <summary>Parses <paramref name="source"/> with Hugging Face's environment settings.</summary>
    /// <exception cref="TemplateException">Syntax error, with line and column.</exception>
    public static ChatTemplate Parse(string source) => Parse(source, TemplateOptions.HuggingFace);

    /// <exception cref="TemplateException">Syntax error, with line and column.</exception>
    internal static ChatTemplate Parse(string source, TemplateOptions options)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        var tokens = Lexer.Tokenize(source, options);
        return new ChatTemplate(source, Parser.Parse(tokens), options);
    }

    /// <summary>
    /// Renders with the given variables (typically <c>messages</c>, <c>tools</c>, <c>add_generation_prompt</c>,
    /// <c>bos_token</c>, <c>eos_token</c>, and template switches such as <c>enable_thinking</c>). Values may be
    /// primitives, <see cref="IDictionary{TKey,TValue}"/>/<see cref="IReadOnlyDictionary{TKey,TValue}"/>,
    /// enumerables, <see cref="System.Text.Json.JsonElement"/>/<see cref="System.Text.Json.Nodes.JsonNode"/>,
    /// or plain objects (public properties become keys).
    /// </summary>
    /// <exception cref="TemplateException">Runtime error (with location), or <see cref="TemplateRaisedException"/> from <c>raise_exception</c>.</exception>
    public string Render(IReadOnlyDictionary<string, object?> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new Evaluator(Options).Render(_body, context);
    }
}
