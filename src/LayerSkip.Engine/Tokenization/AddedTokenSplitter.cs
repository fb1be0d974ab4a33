namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// Splits text into plain segments and added-token matches, leftmost-longest like the Hugging Face added-vocabulary
/// matcher, so that e.g. "&lt;|im_start|&gt;user" yields the marker's single id followed by the text "user".
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    /// <summary>A piece of the input: either plain text (<see cref="Token"/> null) or one added token.</summary>
    public readonly record struct Piece(string? Text, AddedToken? Token);

    public List<Piece> Split(string text)
    {
        var pieces = new List<Piece>();
        if (_byFirstChar.Count == 0)
        {
            if (text.Length > 0) pieces.Add(new Piece(text, null));
            return pieces;
        }

        int segmentStart = 0, i = 0;
        while (i < text.Length)
        {
            var match = MatchAt(text, i);
            if (match is null) { i++; continue; }

            int textEnd = i;
            if (match.LStrip) while (textEnd > segmentStart && char.IsWhiteSpace(text[textEnd - 1])) textEnd--;
            if (textEnd > segmentStart) pieces.Add(new Piece(text[segmentStart..textEnd], null));
            pieces.Add(new Piece(null, match));

            i += match.Content.Length;
            if (match.RStrip) while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            segmentStart = i;
        }
        if (segmentStart < text.Length) pieces.Add(new Piece(text[segmentStart..], null));
        return pieces;
    }

    private AddedToken? MatchAt(string text, int index)
    {
        if (!_byFirstChar.TryGetValue(text[index], out var candidates)) return null;
        foreach (var candidate in candidates)
            if (text.AsSpan(index).StartsWith(candidate.Content, StringComparison.Ordinal)) return candidate;
        return null;
    }
}
