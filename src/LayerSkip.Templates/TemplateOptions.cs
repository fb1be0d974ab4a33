namespace LayerSkip.Templates;

/// <summary>
/// Environment settings. The defaults match how Hugging Face transformers renders chat templates
/// (<c>ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)</c>, Jinja's default
/// <c>keep_trailing_newline=False</c>), so rendered prompts are byte-identical to <c>apply_chat_template</c>.
/// </summary>
internal sealed record TemplateOptions
{
    public static TemplateOptions HuggingFace { get; } = new();

    /// <summary>Plain Jinja2 defaults (no trim_blocks, no lstrip_blocks).</summary>
    public static TemplateOptions Jinja { get; } = new() { TrimBlocks = false, LstripBlocks = false };

    /// <summary>Drop the first newline after a block or comment tag.</summary>
    public bool TrimBlocks { get; init; } = true;

    /// <summary>Strip spaces and tabs from the start of a line up to a block or comment tag.</summary>
    public bool LstripBlocks { get; init; } = true;

    /// <summary>Keep a single trailing newline of the template source.</summary>
    public bool KeepTrailingNewline { get; init; }

    /// <summary>The clock behind <c>strftime_now</c>; <see cref="DateTimeOffset.Now"/> when null.</summary>
    public Func<DateTimeOffset>? Clock { get; init; }
}
