namespace LayerSkip.Engine.Training;

/// <summary>
/// Training windows cut from one token stream: each is BOS (when given) followed by a contiguous slice of the stream,
/// the same shape as the evaluation windows of <see cref="Evaluation.TeacherForcedScorer.Windows"/>. Which slices a
/// micro-batch gets depends only on (seed, step, micro), so a resumed run sees the same data as an uninterrupted one.
/// </summary>
public sealed class TokenWindows
{
    private readonly int[] _tokens;
    private readonly int? _bos;

    public TokenWindows(IReadOnlyList<int> tokens, int? bos)
    {
        _tokens = tokens.ToArray();
        _bos = bos;
    }

    public int TokenCount => _tokens.Length;

    /// <summary><paramref name="count"/> windows of exactly <paramref name="length"/> tokens (BOS included).</summary>
    public int[][] Sample(int count, int length, int seed, int step, int micro)
    {
        var body = _bos is null ? length : length - 1;
        if (body < 1) throw new ArgumentOutOfRangeException(nameof(length));
        if (_tokens.Length < body) throw new InvalidOperationException($"The data has {_tokens.Length} tokens, fewer than one window of {body}.");
        var rng = new Random(Mix(seed, step, micro));
        var windows = new int[count][];
        for (var i = 0; i < count; i++)
        {
            var start = rng.Next(0, _tokens.Length - body + 1);
            var w = new int[length];
            var o = 0;
            if (_bos is int b) w[o++] = b;
            Array.Copy(_tokens, start, w, o, body);
            windows[i] = w;
        }
        return windows;
    }

    /// <summary>A seed from (seed, step, micro) that is the same in every process (unlike HashCode.Combine).</summary>
    internal static int Mix(int seed, int step, int micro)
    {
        unchecked
        {
            ulong h = 1469598103934665603UL;
            foreach (var v in new[] { seed, step, micro }) { h ^= (uint)v; h *= 1099511628211UL; h ^= h >> 29; }
            return (int)(h & 0x7FFFFFFF);
        }
    }
}
