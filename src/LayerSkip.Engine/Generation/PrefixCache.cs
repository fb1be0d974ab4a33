using LayerSkip.Engine.Model;

namespace LayerSkip.Engine.Generation;

/// <summary>
/// Full-depth KV caches of recent prompts. A chat's next request repeats the previous prompt and adds the reply
/// and a new turn, so its longest common prefix with a cached prompt need not be computed again. Entries hold every
/// layer because prefill runs every layer, whatever the request's plan. Only entries a later prompt can use are
/// kept: a prompt that extends a cached one replaces it (the longer entry serves every lookup the shorter one
/// would), and a prompt already covered by a cached one adds nothing. Entries are least-recently-used and bounded
/// in count and bytes. Engine thread only.
/// </summary>
internal sealed class PrefixCache : IDisposable
{
    private readonly LinkedList<(int[] Tokens, KvCache Cache)> _entries = new();
    private readonly int _maxEntries;
    private readonly long _maxBytes;

    public PrefixCache(int maxEntries, long maxBytes)
    {
        _maxEntries = maxEntries;
        _maxBytes = maxBytes;
    }

    /// <summary>Shortest prompt worth keeping; shorter ones are cheap to recompute.</summary>
    public const int MinimumTokens = 8;

    /// <summary>A fresh batch-1 cache holding the longest cached prefix of <paramref name="prompt"/> (at most all but its last token).</summary>
    public KvCache? Lookup(IReadOnlyList<int> prompt, int capacity, out int reused)
    {
        reused = 0;
        LinkedListNode<(int[] Tokens, KvCache Cache)>? best = null;
        for (var node = _entries.First; node is not null; node = node.Next)
        {
            var tokens = node.Value.Tokens;
            var n = 0;
            var limit = Math.Min(tokens.Length, prompt.Count - 1);
            while (n < limit && tokens[n] == prompt[n]) n++;
            if (n > reused) { reused = n; best = node; }
        }
        if (best is null || reused < MinimumTokens) { reused = 0; return null; }
        _entries.Remove(best);
        _entries.AddFirst(best);
        return best.Value.Cache.CopyPrefix(0, reused, capacity);
    }

    /// <summary>Bytes held by the cached prompts' key and value tensors.</summary>
    public long Bytes => _entries.Sum(e => e.Cache.Bytes);

    public int Count => _entries.Count;

    /// <summary>Keeps a copy of a full-depth batch-1 cache for <paramref name="prompt"/>.</summary>
    public void Store(IReadOnlyList<int> prompt, KvCache fullDepth)
    {
        if (_maxEntries == 0 || prompt.Count < MinimumTokens) return;
        var tokens = prompt.ToArray();
        for (var node = _entries.First; node is not null; node = node.Next)
            if (node.Value.Tokens.AsSpan().StartsWith(tokens)) return; // a cached prompt already starts with this one
        var copy = fullDepth.CopyPrefix(0, prompt.Count, prompt.Count);
        if (copy.Bytes > _maxBytes) { copy.Dispose(); return; }
        for (var node = _entries.First; node is not null;)
        {
            var next = node.Next;
            if (tokens.AsSpan().StartsWith(node.Value.Tokens))
            {
                node.Value.Cache.Dispose(); // this prompt extends the cached one, which can serve nothing the new entry cannot
                _entries.Remove(node);
            }
            node = next;
        }
        _entries.AddFirst((tokens, copy));
        while (_entries.Count > _maxEntries || Bytes > _maxBytes)
        {
            _entries.Last!.Value.Cache.Dispose();
            _entries.RemoveLast();
        }
    }

    public void Dispose()
    {
        foreach (var e in _entries) e.Cache.Dispose();
        _entries.Clear();
    }
}
