namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// Splits a matrix-vector product's output rows over a few dedicated threads. A decode step issues about a hundred
/// products of a millisecond or two each, so workers spin briefly for the next one before they block; libtorch's own
/// OpenMP pool waits passively and does not compete while these run.
/// </summary>
internal sealed class RowParallel : IDisposable
{
    /// <summary>Computes rows [start, end) of one product.</summary>
    public delegate void RowRange(int start, int end);

    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _wake;
    private RowRange? _body;
    private int _rows, _grain, _parts;
    private int _pending;
    private Exception? _error;
    private volatile bool _disposed;

    public int Threads { get; }

    public RowParallel(int threads)
    {
        Threads = Math.Max(1, threads);
        _workers = new Thread[Threads - 1];
        _wake = new SemaphoreSlim[Threads - 1];
        for (var i = 0; i < _workers.Length; i++)
        {
            var part = i + 1;
            _wake[i] = new SemaphoreSlim(0);
            _workers[i] = new Thread(() => Work(part)) { IsBackground = true, Name = $"layerskip-matvec-{part}" };
            _workers[i].Start();
        }
    }

    private static readonly Dictionary<int, RowParallel> SharedPools = [];

    /// <summary>The process-wide pool of <paramref name="threads"/> threads (pools live as long as the process).</summary>
    public static RowParallel Shared(int threads)
    {
        threads = Math.Max(1, threads);
        lock (SharedPools)
        {
            if (!SharedPools.TryGetValue(threads, out var pool)) SharedPools[threads] = pool = new RowParallel(threads);
            return pool;
        }
    }

    private int _busy;

    /// <summary>
    /// Runs <paramref name="body"/> over [0, rows) in contiguous parts whose bounds are multiples of
    /// <paramref name="grain"/>. A caller that finds the pool busy (another engine in the process) runs the whole
    /// range on its own thread instead of waiting.
    /// </summary>
    public void For(int rows, int grain, RowRange body)
    {
        var parts = Math.Min(Threads, Math.Max(1, (rows + grain - 1) / grain));
        if (parts == 1 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            body(0, rows);
            return;
        }
        try { RunParts(rows, grain, parts, body); }
        finally { Volatile.Write(ref _busy, 0); }
    }

    private void RunParts(int rows, int grain, int parts, RowRange body)
    {
        _body = body; _rows = rows; _grain = grain; _parts = parts;
        Volatile.Write(ref _pending, parts - 1);
        for (var p = 1; p < parts; p++) _wake[p - 1].Release();
        try { Run(0); }
        finally
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _body = null;
        }
        if (Interlocked.Exchange(ref _error, null) is { } error) throw new AggregateException(error);
    }

    private void Run(int part)
    {
        var perPart = (_rows + _parts - 1) / _parts;
        perPart = (perPart + _grain - 1) / _grain * _grain;
        var start = Math.Min(_rows, part * perPart);
        var end = Math.Min(_rows, start + perPart);
        if (start < end) _body!(start, end);
    }

    private void Work(int part)
    {
        var wake = _wake[part - 1];
        while (true)
        {
            // SemaphoreSlim spins a little before it blocks: back-to-back products wake without a system call.
            wake.Wait();
            if (_disposed) return;
            try { Run(part); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); } // rethrown on the caller's thread
            finally { Interlocked.Decrement(ref _pending); }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var w in _wake) w.Release();
    }
}
