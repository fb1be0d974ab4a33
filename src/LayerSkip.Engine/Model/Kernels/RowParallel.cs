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

    /// <summary>Chunks per thread in one product: enough that a worker woken late finds little left and the caller never idles.</summary>
    private const int ChunksPerThread = 4;

    /// <summary>
    /// Runs <paramref name="body"/> over [0, rows) in contiguous chunks whose bounds are multiples of
    /// <paramref name="grain"/>; each chunk runs on one thread, so a row's result does not depend on the split. A caller
    /// that finds the pool busy (another engine in the process) runs the whole range on its own thread instead of waiting.
    /// </summary>
    public void For(int rows, int grain, RowRange body)
    {
        var chunkRows = Math.Max(grain, (rows + Threads * ChunksPerThread - 1) / (Threads * ChunksPerThread) + grain - 1) / grain * grain;
        var chunks = (rows + chunkRows - 1) / chunkRows;
        if (chunks <= 1 || Threads == 1 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            body(0, rows);
            return;
        }
        try { Run(new Job(body, rows, chunkRows, chunks, Threads)); }
        finally { Volatile.Write(ref _busy, 0); }
    }

    /// <summary>
    /// One product's chunks. Each thread has a home share (the caller the first, worker i the (i + 1)-th) and claims
    /// its chunks in order, so on a quiet machine every thread multiplies the same rows step after step and finds them
    /// in its own caches; a thread done with its share claims the chunks left in the others'. The caller waits only
    /// for chunks a worker has already started, never for a worker that has not woken yet: on a shared machine a
    /// worker can wake tens of microseconds late, longer than a small product takes on one thread.
    /// </summary>
    private sealed class Job(RowRange body, int rows, int chunkRows, int chunks, int threads)
    {
        private const int Stride = 16; // one share's counter per cache line
        private readonly int[] _claimed = new int[threads * Stride];
        private int _done;
        private Exception? _error;

        public bool Finished => Volatile.Read(ref _done) == chunks;

        public void Drain(int home)
        {
            for (var i = 0; i < threads; i++)
            {
                var share = (home + i) % threads;
                int first = share * chunks / threads, end = (share + 1) * chunks / threads, c;
                while ((c = first + Interlocked.Increment(ref _claimed[share * Stride]) - 1) < end)
                {
                    try { body(c * chunkRows, Math.Min(rows, (c + 1) * chunkRows)); }
                    catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); } // rethrown on the caller's thread
                    finally { Interlocked.Increment(ref _done); }
                }
            }
        }

        public void ThrowIfFailed()
        {
            if (_error is { } error) throw new AggregateException(error);
        }
    }

    private volatile Job? _job;

    private void Run(Job job)
    {
        _job = job;
        foreach (var wake in _wake) wake.Release();
        job.Drain(0);
        var spin = new SpinWait();
        while (!job.Finished) spin.SpinOnce(sleep1Threshold: -1);
        _job = null;
        job.ThrowIfFailed();
    }

    private void Work(int part)
    {
        var wake = _wake[part - 1];
        while (true)
        {
            // SemaphoreSlim spins a little before it blocks: back-to-back products wake without a system call. A worker
            // that wakes after its product is done finds no job, or one with nothing left, and waits again.
            wake.Wait();
            if (_disposed) return;
            _job?.Drain(part);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var w in _wake) w.Release();
    }
}
