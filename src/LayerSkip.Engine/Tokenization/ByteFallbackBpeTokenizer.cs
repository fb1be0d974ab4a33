using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// SentencePiece-style BPE from a tokenizer.json (llama2.c, TinyLlama, LLaMA-2 exports): characters are looked up in
/// the vocabulary, characters outside it fall back to their UTF-8 bytes as &lt;0xNN&gt; pieces (or to the unknown token),
/// then adjacent pairs merge lowest merge-rank first, leftmost on ties — the Hugging Face BPE model with
/// <c>byte_fallback</c>, which Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> does not offer.
/// </summary>
internal sealed class ByteFallbackBpeTokenizer : Tokenizer
{
    private readonly Dictionary<string, int> _vocabulary;
    private readonly string?[] _idToToken;
    private readonly Dictionary<(int Left, int Right), (int Rank, int NewId)> _merges;
    private readonly int[] _byteIds;
    private readonly int? _unknownId;
    private readonly bool _fuseUnknown;
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;

    /// <param name="merges">Merge pairs in rank order (rank = position).</param>
    /// <exception cref="InvalidDataException">A merge names a token, or produces a token, missing from the vocabulary.</exception>
    public ByteFallbackBpeTokenizer(
        IReadOnlyDictionary<string, int> vocabulary,
        IReadOnlyList<(string Left, string Right)> merges,
        string? unknownToken,
        bool byteFallback,
        bool fuseUnknown,
        Normalizer? normalizer,
        PreTokenizer? preTokenizer)
    {
        _vocabulary = new Dictionary<string, int>(vocabulary, StringComparer.Ordinal);
        _idToToken = new string?[_vocabulary.Count == 0 ? 0 : _vocabulary.Values.Max() + 1];
        foreach (var (token, id) in _vocabulary) _idToToken[id] = token;

        _merges = new Dictionary<(int, int), (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!_vocabulary.TryGetValue(left, out var leftId) || !_vocabulary.TryGetValue(right, out var rightId))
                throw new InvalidDataException($"Merge #{rank} \"{left} {right}\" names a token missing from the vocabulary.");
            if (!_vocabulary.TryGetValue(left + right, out var newId))
                throw new InvalidDataException($"Merge #{rank} \"{left} {right}\" produces \"{left + right}\", missing from the vocabulary.");
            _merges.TryAdd((leftId, rightId), (rank, newId));
        }

        _byteIds = new int[256];
        for (int b = 0; b < 256; b++)
            _byteIds[b] = byteFallback && _vocabulary.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;

        _unknownId = unknownToken is not null && _vocabulary.TryGetValue(unknownToken, out var unk) ? unk : null;
        _fuseUnknown = fuseUnknown;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
    }

    public IReadOnlyDictionary<string, int> Vocabulary => _vocabulary;

    public override Normalizer? Normalizer => _normalizer;

    public override PreTokenizer? PreTokenizer => _preTokenizer;

    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var input = text ?? textSpan.ToString();
        string? normalized = null;
        if (settings.ConsiderNormalization && _normalizer is not null) input = normalized = _normalizer.Normalize(input);

        IEnumerable<(int Offset, int Length)> pieces = settings.ConsiderPreTokenization && _preTokenizer is not null
            ? _preTokenizer.PreTokenize(input)
            : [(0, input.Length)];

        var tokens = new List<EncodedToken>();
        foreach (var (offset, length) in pieces) EncodeWord(input, offset, length, tokens);

        int max = settings.MaxTokenCount;
        if (max > 0 && tokens.Count > max) tokens.RemoveRange(max, tokens.Count - max);
        int consumed = tokens.Count == 0 ? 0 : tokens[^1].Offset.End.GetOffset(input.Length);
        if (max <= 0 || tokens.Count < max) consumed = input.Length;
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = normalized, CharsConsumed = consumed };
    }

    private void EncodeWord(string text, int offset, int length, List<EncodedToken> output)
    {
        var ids = new List<int>(length);
        var starts = new List<int>(length);
        var ends = new List<int>(length);
        Span<byte> utf8 = stackalloc byte[4];

        int i = offset, end = offset + length;
        while (i < end)
        {
            int charLength = char.IsHighSurrogate(text[i]) && i + 1 < end && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            var symbol = text.Substring(i, charLength);
            if (_vocabulary.TryGetValue(symbol, out var id))
            {
                Add(id, i, i + charLength);
            }
            else if (TryByteFallback(symbol, utf8, out int byteCount))
            {
                for (int k = 0; k < byteCount; k++) Add(_byteIds[utf8[k]], i, i + charLength);
            }
            else if (_unknownId is int unk)
            {
                if (_fuseUnknown && ids.Count > 0 && ids[^1] == unk && ends[^1] == i) ends[^1] = i + charLength;
                else Add(unk, i, i + charLength);
            }
            i += charLength;
        }

        Merge(ids, starts, ends);
        for (int k = 0; k < ids.Count; k++)
            if (ids[k] >= 0) output.Add(new EncodedToken(ids[k], _idToToken[ids[k]] ?? string.Empty, new Range(starts[k], ends[k])));

        void Add(int id, int start, int stop) { ids.Add(id); starts.Add(start); ends.Add(stop); }
    }

    private bool TryByteFallback(string symbol, Span<byte> buffer, out int count)
    {
        count = 0;
        if (_byteIds[0] < 0 && _byteIds[255] < 0) return false;
        if (!Rune.TryGetRuneAt(symbol, 0, out var rune)) rune = Rune.ReplacementChar;
        count = rune.EncodeToUtf8(buffer);
        for (int k = 0; k < count; k++) if (_byteIds[buffer[k]] < 0) return false;
        return true;
    }

    /// <summary>Hugging Face's BPE merge loop: a queue of (rank, position); stale entries are skipped when popped.</summary>
    private void Merge(List<int> ids, List<int> starts, List<int> ends)
    {
        int n = ids.Count;
        if (n < 2 || _merges.Count == 0) return;
        var next = new int[n];
        var prev = new int[n];
        for (int k = 0; k < n; k++) { next[k] = k + 1 < n ? k + 1 : -1; prev[k] = k - 1; }

        var queue = new PriorityQueue<(int Position, int NewId), (int Rank, int Position)>();
        for (int k = 0; k + 1 < n; k++) Enqueue(k);

        while (queue.TryDequeue(out var item, out var priority))
        {
            int pos = item.Position;
            if (ids[pos] < 0 || next[pos] < 0) continue;
            int right = next[pos];
            if (!_merges.TryGetValue((ids[pos], ids[right]), out var merge) || merge.NewId != item.NewId || merge.Rank != priority.Rank) continue;

            ids[pos] = merge.NewId;
            ends[pos] = ends[right];
            ids[right] = -1;
            next[pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = pos;

            if (prev[pos] >= 0) Enqueue(prev[pos]);
            Enqueue(pos);
        }

        void Enqueue(int left)
        {
            int right = next[left];
            if (right < 0) return;
            if (_merges.TryGetValue((ids[left], ids[right]), out var m)) queue.Enqueue((left, m.NewId), (m.Rank, left));
        }
    }

    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            var token = (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;
            if (token is null) continue;
            if (TokenBytesTable.ByteFallbackValue(token) is byte b) bytes.Add(b);
            else bytes.AddRange(Encoding.UTF8.GetBytes(token.Replace('\u2581', ' ')));
        }
        var text = Encoding.UTF8.GetString(bytes.ToArray());
        return text.StartsWith(' ') ? text[1..] : text;
    }

    /// <summary>Writes the whole decoded text, or nothing when it does not fit.</summary>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        var list = ids as IReadOnlyCollection<int> ?? ids.ToList();
        var text = Decode(list);
        if (text.Length > destination.Length) { idsConsumed = 0; charsWritten = 0; return OperationStatus.DestinationTooSmall; }
        text.AsSpan().CopyTo(destination);
        idsConsumed = list.Count;
        charsWritten = text.Length;
        return OperationStatus.Done;
    }
}
