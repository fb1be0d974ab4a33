namespace LayerSkip.Extensions.AI;

/// <summary>
/// Finds stop sequences in streamed text. Text that could still be the start of a stop sequence is held back,
/// so no part of a stop string ever reaches the caller, even when it spans several tokens.
/// </summary>
internal sealed class StopSequenceFilter
{
    private readonly string[] _stops;
    private string _pending = "";

    public StopSequenceFilter(IEnumerable<string>? stops) =>
        _stops = stops?.Where(s => !string.IsNullOrEmpty(s)).Distinct().ToArray() ?? [];

    public bool Stopped { get; private set; }

    /// <summary>Adds text; returns what is safe to emit now. After a stop sequence, returns only the text before it.</summary>
    public string Append(string text)
    {
        if (Stopped) return "";
        if (_stops.Length == 0) return text;
        _pending += text;
        var cut = -1;
        foreach (var stop in _stops)
        {
            var at = _pending.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            var before = _pending[..cut];
            _pending = "";
            return before;
        }
        var hold = LongestSuffixThatStartsAStop(_pending);
        var emit = _pending[..^hold];
        _pending = _pending[^hold..];
        return emit;
    }

    /// <summary>At the end of generation the held-back text was not a stop sequence after all.</summary>
    public string Flush()
    {
        var rest = Stopped ? "" : _pending;
        _pending = "";
        return rest;
    }

    private int LongestSuffixThatStartsAStop(string text)
    {
        var best = 0;
        foreach (var stop in _stops)
            for (var len = Math.Min(stop.Length - 1, text.Length); len > best; len--)
                if (string.CompareOrdinal(text, text.Length - len, stop, 0, len) == 0) { best = len; break; }
        return best;
    }
}
