using System.Collections.Concurrent;

namespace LayerSkip.Engine.Generation;

/// <summary>
/// The one thread that does all tensor work. TorchSharp dispose scopes are per thread, and one thread keeps
/// libtorch's own thread pool from being oversubscribed; callers hand it work and await the result.
/// Between work items it runs the idle callback (the generation scheduler's step) until that reports no work.
/// </summary>
internal sealed class EngineThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private readonly Func<bool> _step;
    private volatile bool _stopping;

    /// <param name="step">Runs one unit of background work; returns false when there is none left.</param>
    public EngineThread(string name, Func<bool> step, Action? init = null)
    {
        _step = step;
        _thread = new Thread(() => Run(init)) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public int ManagedThreadId => _thread.ManagedThreadId;

    private void Run(Action? init)
    {
        init?.Invoke();
        while (!_stopping)
        {
            // Queued work first; then step generation; sleep only when neither has anything to do.
            while (_work.TryTake(out var item)) item();
            if (_stopping) break;
            bool busy;
            try { busy = _step(); }
            catch { busy = false; } // the step reports its own failures to the affected requests
            if (!busy && _work.TryTake(out var next, Timeout.Infinite)) next();
        }
        while (_work.TryTake(out var left)) left();
    }

    /// <summary>Wakes the thread (e.g. after a request was queued for the scheduler).</summary>
    public void Wake() => _work.TryAdd(static () => { });

    public Task<T> InvokeAsync<T>(Func<T> func)
    {
        if (Environment.CurrentManagedThreadId == _thread.ManagedThreadId) return Task.FromResult(func());
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_stopping) { tcs.SetException(new ObjectDisposedException(nameof(EngineThread))); return tcs.Task; }
        _work.Add(() =>
        {
            try { tcs.SetResult(func()); }
            catch (Exception e) { tcs.SetException(e); }
        });
        return tcs.Task;
    }

    public T Invoke<T>(Func<T> func) => InvokeAsync(func).GetAwaiter().GetResult();

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _work.Add(static () => { });
        if (Environment.CurrentManagedThreadId != _thread.ManagedThreadId) _thread.Join();
        _work.Dispose();
    }
}
