using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// This machine's memory read bandwidth as our kernels see it: a SIMD sum over a buffer far larger than the caches,
/// split over the same threads the matrix-vector products use. Batch-1 decoding cannot stream weights faster.
/// </summary>
public static unsafe class ReadBandwidth
{
    /// <summary>Bytes per second, best of <paramref name="repeats"/> passes over <paramref name="bytes"/>.</summary>
    public static double Measure(int threads, long bytes = 1L << 30, int repeats = 5)
    {
        var floats = bytes / 4 / 4096 * 4096;
        var data = (float*)NativeMemory.AlignedAlloc((nuint)(floats * 4), 64);
        try
        {
            for (long i = 0; i < floats; i += 1 << 20) new Span<float>(data + i, (int)Math.Min(1 << 20, floats - i)).Fill(1f);
            var pool = RowParallel.Shared(threads);
            var pages = (int)(floats / 4096);
            var sums = new float[pool.Threads];
            var best = double.MaxValue;
            for (var r = 0; r < repeats; r++)
            {
                var clock = Stopwatch.StartNew();
                pool.For(pages, 1, (s, e) =>
                {
                    var acc0 = Vector512<float>.Zero; var acc1 = Vector512<float>.Zero;
                    for (var p = (long)s * 4096; p < (long)e * 4096; p += 32)
                    {
                        acc0 += Vector512.Load(data + p);
                        acc1 += Vector512.Load(data + p + 16);
                    }
                    sums[s * sums.Length / pages] += Vector512.Sum(acc0 + acc1);
                });
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
            if (sums.Sum() <= 0) throw new InvalidOperationException("The bandwidth probe read nothing.");
            return floats * 4 / best;
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }
}
