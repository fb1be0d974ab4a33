using LayerSkip.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation;

/// <summary>
/// Full-depth KV caches of recent prompts. A chat's next request repeats the previous prompt and adds the reply
/// and a new turn, so its longest common prefix with a cached prompt need not be computed again. Entries hold every
/// layer because prefill runs every layer, whatever the request's plan. Only entries a later prompt can use are
/// kept: a prompt that extends a cached one replaces it (the longer entry serves every lookup the shorter one
/// would), and a prompt already covered by a cached one adds nothing. Entries are least-recently-used and bounded
/// in count and bytes. Engine thread only.
/// An entry also keeps the logits its prompt's last position produced, so an exact repeat (a regenerated answer, a
/// benchmark's next round) reuses every position and starts from the very same numbers: recomputing the last position
/// alone would round differently from the prefill that first computed it and could flip a near-tie.
/// </summary>
internal sealed class PrefixCache : IDisposable
{
    private readonly LinkedList<Entry> _entries = new();
    private readonly int _maxEntries;
    private readonly long _maxBytes;

    public PrefixCache(int maxEntries, long maxBytes)
    {
        _maxEntries = maxEntries;
        _maxBytes = maxBytes;
    }

    /// <summary>Shortest prompt worth keeping; shorter ones are cheap to recompute.</summary>
    public const int MinimumTokens = 8;

    /// <summary>
    /// A fresh batch-1 cache holding the longest cached prefix of <paramref name="prompt"/>: all of it when the prompt
    /// repeats a cached one exactly (then <paramref name="lastLogits"/> is a copy of its last position's logits),
    /// otherwise at most all but its last token, whose logits the caller computes.
    /// </summary>
    public KvCache? Lookup(IReadOnlyList<int> prompt, int capacity, out int reused, out Tensor? lastLogits)
    {
        reused = 0;
        lastLogits = null;
        LinkedListNode<Entry>? best = null;
        for (var node = _entries.First; node is not null; node = node.Next)
        {
            var tokens = node.Value.Tokens;
            var n = 0;
            var limit = Math.Min(tokens.Length, prompt.Count);
            while (n < limit && tokens[n] == prompt[n]) n++;
            if (n == prompt.Count && tokens.Length != n) n--; // no logits stored for this position
            if (n > reused) { reused = n; best = node; }
        }
        if (best is null || reused < MinimumTokens) { reused = 0; return null; }
        _entries.Remove(best);
        _entries.AddFirst(best);
        if (reused == prompt.Count) lastLogits = best.Value.LastLogits.clone();
        return best.Value.Cache.CopyPrefix(0, reused, capacity);
    }

    /// <summary>Bytes held by the cached prompts' key and value tensors and last logits.</summary>
    public long Bytes => _entries.Sum(e => e.Bytes);

    public int Count => _entries.Count;

    /// <summary>Keeps copies of a full-depth batch-1 cache for <paramref name="prompt"/> and of its last position's logits.</summary>
    public void Store(IReadOnlyList<int> prompt, KvCache fullDepth, Tensor lastLogits)
    {
        if (_maxEntries == 0 || prompt.Count < MinimumTokens) return;
        var tokens = prompt.ToArray();
        for (var node = _entries.First; node is not null; node = node.Next)
            if (node.Value.Tokens.AsSpan().StartsWith(tokens)) return; // a cached prompt already starts with this one
        var entry = new Entry(tokens, fullDepth.CopyPrefix(0, prompt.Count, prompt.Count), lastLogits.detach().clone().DetachFromDisposeScope());
        if (entry.Bytes > _maxBytes) { entry.Dispose(); return; }
        for (var node = _entries.First; node is not null;)
        {
            var next = node.Next;
            if (tokens.AsSpan().StartsWith(node.Value.Tokens))
            {
                node.Value.Dispose(); // this prompt extends the cached one, which can serve nothing the new entry cannot
                _entries.Remove(node);
            }
            node = next;
        }
        _entries.AddFirst(entry);
        while (_entries.Count > _maxEntries || Bytes > _maxBytes)
        {
            _entries.Last!.Value.Dispose();
            _entries.RemoveLast();
        }
    }

    public void Dispose()
    {
        foreach (var e in _entries) e.Dispose();
        _entries.Clear();
    }

    private sealed record Entry(int[] Tokens, KvCache Cache, Tensor LastLogits) : IDisposable
    {
        public long Bytes => Cache.Bytes + LastLogits.NumberOfElements * LastLogits.ElementSize;

        public void Dispose()
        {
            Cache.Dispose();
            LastLogits.Dispose();
        }
    }
}
