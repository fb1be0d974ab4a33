namespace LayerSkip.Engine.Generation;

/// <summary>
/// Drafts by copying from the context (prompt lookup): find the latest earlier place where the sequence's last few
/// tokens occurred, in its prompt or its own output, and propose the tokens that followed them there. It costs no
/// forward pass, and it agrees with the model wherever the output repeats its context: answers quoting a retrieved
/// passage, edits of given code, summaries, and the loops small models fall into.
/// </summary>
internal static class PromptLookup
{
    /// <summary>The longest suffix matched; longer matches are tried first, as they predict better.</summary>
    public const int MaxNgram = 3;

    /// <summary>
    /// The shortest suffix matched: one shared token predicts little (on stories a draft copied after a one-token
    /// match was accepted about half as often as after two), and each failed draft costs a verified position.
    /// </summary>
    public const int MinNgram = 2;

    /// <summary>
    /// Up to <paramref name="max"/> tokens that followed the latest earlier occurrence of the longest suffix of
    /// <paramref name="history"/> (<see cref="MinNgram"/> to <see cref="MaxNgram"/> tokens) that occurred before;
    /// empty when none did.
    /// </summary>
    public static int[] Propose(IReadOnlyList<int> history, int max)
    {
        var length = history.Count;
        if (max < 1) return [];
        for (var n = Math.Min(MaxNgram, length - 1); n >= MinNgram; n--)
        {
            // Latest start first: nearby context predicts the next tokens best. The match must end before the suffix does.
            for (var start = length - n - 1; start >= 0; start--)
            {
                if (!Matches(history, start, length - n, n)) continue;
                var from = start + n;
                var count = Math.Min(max, length - from);
                var proposal = new int[count];
                for (var i = 0; i < count; i++) proposal[i] = history[from + i];
                return proposal;
            }
        }
        return [];
    }

    private static bool Matches(IReadOnlyList<int> history, int at, int suffix, int n)
    {
        for (var i = 0; i < n; i++)
            if (history[at + i] != history[suffix + i]) return false;
        return true;
    }
}
