namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>
/// Character trie over token texts in a flat layout: the children of a node are contiguous, so a depth-first walk
/// can prune a whole subtree as soon as its prefix is rejected.
/// </summary>
internal sealed class VocabularyTrie
{
    public readonly char[] Chars;        // edge character into node i (node 0 = root)
    public readonly int[] ChildStart;
    public readonly int[] ChildCount;
    public readonly int[] TokenStart;    // token ids ending exactly at node i
    public readonly int[] TokenCount;
    public readonly int[] TokenIds;
    public readonly int MaxDepth;

    public VocabularyTrie(IReadOnlyList<string?> texts, Func<int, bool> include)
    {
        var ids = new List<int>();
        for (var i = 0; i < texts.Count; i++)
            if (!string.IsNullOrEmpty(texts[i]) && include(i)) ids.Add(i);
        var sorted = ids.ToArray();
        var keys = sorted.Select(i => texts[i]!).ToArray();
        Array.Sort(keys, sorted, StringComparer.Ordinal);

        var chars = new List<char> { '\0' };
        var childStart = new List<int> { 0 };
        var childCount = new List<int> { 0 };
        var tokenStart = new List<int> { 0 };
        var tokenCount = new List<int> { 0 };
        var tokenIds = new List<int>(sorted.Length);
        var maxDepth = 0;

        // explicit stack of (node, lo, hi, depth) ranges of keys sharing a prefix of length depth
        var stack = new Stack<(int Node, int Lo, int Hi, int Depth)>();
        stack.Push((0, 0, keys.Length, 0));
        while (stack.Count > 0)
        {
            var (node, lo, hi, depth) = stack.Pop();
            maxDepth = Math.Max(maxDepth, depth);
            var k = lo;
            tokenStart[node] = tokenIds.Count;
            while (k < hi && keys[k].Length == depth) tokenIds.Add(sorted[k++]);
            tokenCount[node] = tokenIds.Count - tokenStart[node];
            childStart[node] = chars.Count;
            var groups = new List<(int Lo, int Hi)>();
            while (k < hi)
            {
                var c = keys[k][depth];
                var g = k;
                while (k < hi && keys[k][depth] == c) k++;
                groups.Add((g, k));
                chars.Add(c);
                childStart.Add(0); childCount.Add(0); tokenStart.Add(0); tokenCount.Add(0);
            }
            childCount[node] = groups.Count;
            for (var i = groups.Count - 1; i >= 0; i--)
                stack.Push((childStart[node] + i, groups[i].Lo, groups[i].Hi, depth + 1));
        }

        Chars = [.. chars];
        ChildStart = [.. childStart];
        ChildCount = [.. childCount];
        TokenStart = [.. tokenStart];
        TokenCount = [.. tokenCount];
        TokenIds = [.. tokenIds];
        MaxDepth = maxDepth;
    }

    public int NodeCount => Chars.Length;

    /// <summary>The longest token that <paramref name="text"/> starts with at <paramref name="from"/>: its id and length
    /// (length 0 when no token spells the next character).</summary>
    public (int TokenId, int Length) LongestTokenAt(string text, int from)
    {
        var node = 0;
        (int, int) best = (-1, 0);
        for (var i = from; i < text.Length; i++)
        {
            var child = FindChild(node, text[i]);
            if (child < 0) break;
            node = child;
            if (TokenCount[node] > 0) best = (TokenIds[TokenStart[node]], i - from + 1);
        }
        return best;
    }

    /// <summary>Tokens needed to spell <paramref name="text"/> by greedy longest match; int.MaxValue/2 if it cannot be spelled.</summary>
    public int GreedyTokenCount(string text)
    {
        var count = 0;
        for (var i = 0; i < text.Length; count++)
        {
            var (_, length) = LongestTokenAt(text, i);
            if (length == 0) return int.MaxValue / 2;
            i += length;
        }
        return count;
    }

    private int FindChild(int node, char c)
    {
        // children are sorted by character (keys were sorted ordinally): binary search
        int lo = ChildStart[node], hi = lo + ChildCount[node] - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            if (Chars[mid] == c) return mid;
            if (Chars[mid] < c) lo = mid + 1; else hi = mid - 1;
        }
        return -1;
    }
}
