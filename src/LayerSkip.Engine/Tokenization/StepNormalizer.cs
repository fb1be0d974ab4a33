using System.Text;
using Microsoft.ML.Tokenizers;

namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// A Hugging Face normalizer chain (Sequence of NFC/NFKC/NFD/NFKD, Lowercase, Prepend, Replace with a string pattern)
/// as a Microsoft.ML.Tokenizers <see cref="Normalizer"/>. Unicode forms use <see cref="string.Normalize(NormalizationForm)"/>,
/// which leaves text unchanged when the process runs with invariant globalization.
/// </summary>
internal sealed class StepNormalizer : Normalizer
{
    private readonly IReadOnlyList<Func<string, string>> _steps;

    public StepNormalizer(IReadOnlyList<Func<string, string>> steps) => _steps = steps;

    public override string Normalize(string original)
    {
        var text = original;
        foreach (var step in _steps) text = step(text);
        return text;
    }

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());

    public static Func<string, string> UnicodeForm(NormalizationForm form) => s =>
    {
        try { return s.Normalize(form); }
        catch (PlatformNotSupportedException) { return s; }
    };

    public static Func<string, string> Prepend(string prefix) => s => s.Length == 0 ? s : prefix + s;

    public static Func<string, string> Replace(string pattern, string content) => s => s.Replace(pattern, content, StringComparison.Ordinal);

    public static Func<string, string> Lowercase() => s => s.ToLowerInvariant();
}
