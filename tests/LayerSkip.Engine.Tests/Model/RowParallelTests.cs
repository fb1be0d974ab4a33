using System.Collections.Concurrent;
using LayerSkip.Engine.Model.Kernels;

namespace LayerSkip.Engine.Tests.Model;

public class RowParallelTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(15, 16)]
    [InlineData(64, 16)]
    [InlineData(1000, 16)]
    [InlineData(128_256, 16)]
    [InlineData(7, 1)]
    public void Every_row_runs_once_in_chunks_aligned_to_the_grain(int rows, int grain)
    {
        using var pool = new RowParallel(3);
        for (var repeat = 0; repeat < 20; repeat++)
        {
            var counts = new int[rows];
            var ranges = new ConcurrentBag<(int Start, int End)>();
            pool.For(rows, grain, (s, e) =>
            {
                ranges.Add((s, e));
                for (var i = s; i < e; i++) Interlocked.Increment(ref counts[i]);
            });
            Assert.All(counts, c => Assert.Equal(1, c));
            Assert.All(ranges, r =>
            {
                Assert.Equal(0, r.Start % grain);
                Assert.True(r.End == rows || r.End % grain == 0, $"range [{r.Start}, {r.End}) of {rows} rows ends off the grain {grain}");
            });
        }
    }

    [Fact]
    public void Work_spreads_over_the_threads_and_a_slow_chunk_is_waited_for()
    {
        using var pool = new RowParallel(2);
        var threads = new ConcurrentDictionary<int, int>();
        var done = 0;
        pool.For(64, 1, (s, e) =>
        {
            threads[Environment.CurrentManagedThreadId] = 1;
            Thread.Sleep(5); // long enough that the worker wakes while chunks are left
            Interlocked.Add(ref done, e - s);
        });
        Assert.Equal(64, done); // For returned only after every chunk, including those still running on the worker
        Assert.Equal(2, threads.Count);
    }

    [Fact]
    public void An_exception_in_any_chunk_reaches_the_caller_and_the_pool_stays_usable()
    {
        using var pool = new RowParallel(2);
        var error = Assert.Throws<AggregateException>(() => pool.For(64, 1, (s, e) =>
        {
            Thread.Sleep(1);
            if (s <= 40 && 40 < e) throw new InvalidOperationException("row 40");
        }));
        Assert.Equal("row 40", Assert.IsType<InvalidOperationException>(error.InnerException).Message);
        var sum = 0L;
        pool.For(100, 1, (s, e) => { for (var i = s; i < e; i++) Interlocked.Add(ref sum, i); });
        Assert.Equal(4950, sum);
    }

    [Fact]
    public void A_product_started_inside_another_runs_on_the_calling_thread()
    {
        using var pool = new RowParallel(2);
        var inner = 0;
        pool.For(4, 1, (s, e) =>
        {
            var caller = Environment.CurrentManagedThreadId;
            pool.For(32, 1, (a, b) =>
            {
                Assert.Equal(caller, Environment.CurrentManagedThreadId);
                Interlocked.Add(ref inner, b - a);
            });
        });
        Assert.Equal(4 * 32, inner);
    }
}
