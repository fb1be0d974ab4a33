using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// A chain of Hugging Face "Split … behavior: Isolated" steps (the ByteLevel regex, a Split regex, Digits): each step
/// splits every piece from the previous step into its regex matches and the gaps between them. Applying the steps one
/// after another, rather than as one merged regex, keeps the piece boundaries exactly as the Hugging Face sequence does.
/// </summary>
internal sealed class SplitPreTokenizer : PreTokenizer
{
    /// <summary>The GPT-2 pattern Hugging Face's ByteLevel pre-tokenizer applies when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly IReadOnlyList<Regex> _steps;

    public SplitPreTokenizer(IReadOnlyList<Regex> steps) => _steps = steps;

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        string.IsNullOrEmpty(text) ? [] : Split(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
        text.IsEmpty ? [] : Split(text);

    private List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int Offset, int Length)> { (0, text.Length) };
        foreach (var regex in _steps)
        {
            var next = new List<(int Offset, int Length)>(pieces.Count * 2);
            foreach (var (offset, length) in pieces)
            {
                var piece = text.Slice(offset, length);
                int cursor = 0;
                foreach (var m in regex.EnumerateMatches(piece))
                {
                    if (m.Length == 0) continue;
                    if (m.Index > cursor) next.Add((offset + cursor, m.Index - cursor));
                    next.Add((offset + m.Index, m.Length));
                    cursor = m.Index + m.Length;
                }
                if (cursor < length) next.Add((offset + cursor, length - cursor));
            }
            pieces = next;
        }
        return pieces;
    }
}
