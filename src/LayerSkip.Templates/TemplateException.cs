namespace LayerSkip.Templates;

/// <summary>A template could not be parsed or rendered. <see cref="Line"/>/<see cref="Column"/> are 1-based (0 when unknown).</summary>
public class TemplateException : Exception
{
    public TemplateException(string reason, int line = 0, int column = 0, Exception? inner = null)
        : base(Format(reason, line, column), inner)
    {
        Reason = reason;
        Line = line;
        Column = column;
    }

    protected TemplateException(string message, string reason, int line, int column)
        : base(message)
    {
        Reason = reason;
        Line = line;
        Column = column;
    }

    /// <summary>The message without the location suffix.</summary>
    public string Reason { get; }

    public int Line { get; }

    public int Column { get; }

    internal bool HasLocation => Line > 0;

    internal virtual TemplateException WithLocation(int line, int column) =>
        HasLocation || line <= 0 ? this : new TemplateException(Reason, line, column, InnerException);

    private static string Format(string reason, int line, int column) =>
        line > 0 ? $"{reason} (line {line}, column {column})" : reason;
}

/// <summary>Thrown when a template calls <c>raise_exception(message)</c>; <see cref="Exception.Message"/> is exactly that message.</summary>
public sealed class TemplateRaisedException : TemplateException
{
    public TemplateRaisedException(string message, int line = 0, int column = 0)
        : base(message, message, line, column)
    {
    }

    internal override TemplateException WithLocation(int line, int column) =>
        HasLocation || line <= 0 ? this : new TemplateRaisedException(Reason, line, column);
}
