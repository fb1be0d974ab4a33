using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// Weight memory on 2 MiB pages where Linux offers them on request (transparent huge pages in "madvise" mode). Decoding
/// streams every weight once per token: with 4 KiB pages the reads cross a page, and miss the TLB, every 4 KiB, and the
/// hardware prefetchers stop at each page boundary. The advice must come before the memory is first written.
/// </summary>
internal static unsafe partial class HugePages
{
    /// <summary>Set LAYERSKIP_HUGE_PAGES=0 to keep the allocator's ordinary pages (to measure what huge pages change).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("LAYERSKIP_HUGE_PAGES") != "0";

    private const long PageSize = 2L << 20;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>Native memory for <paramref name="bytes"/>, 2 MiB-aligned and advised when large; free with NativeMemory.AlignedFree.</summary>
    public static void* Allocate(long bytes)
    {
        var large = bytes >= PageSize;
        var p = NativeMemory.AlignedAlloc((nuint)bytes, large ? (nuint)PageSize : 64);
        if (large) Advise(p, bytes);
        return p;
    }

    /// <summary>
    /// The tensor moved into fresh memory advised for huge pages (the old one is disposed), or itself when small, not on
    /// the CPU or not on Linux.
    /// </summary>
    public static Tensor Rehome(Tensor t)
    {
        if (!WorthMoving(t)) return t;
        var fresh = empty(t.shape, t.dtype, t.device).DetachFromDisposeScope();
        Advise((void*)TensorMemory.Pointer(fresh), fresh.NumberOfElements * fresh.ElementSize);
        fresh.copy_(t);
        t.Dispose();
        return fresh;
    }

    /// <summary>
    /// The row-wise concatenation of <paramref name="parts"/> (same columns, dtype and device) written straight into
    /// memory advised for huge pages, so a fused matrix is copied once rather than concatenated and then moved.
    /// </summary>
    public static Tensor Concat(params Tensor[] parts)
    {
        var shape = parts[0].shape.ToArray();
        shape[0] = parts.Sum(p => p.shape[0]);
        var result = empty(shape, parts[0].dtype, parts[0].device).DetachFromDisposeScope();
        if (WorthMoving(result)) Advise((void*)TensorMemory.Pointer(result), result.NumberOfElements * result.ElementSize);
        long row = 0;
        foreach (var part in parts)
        {
            using var slice = result.narrow(0, row, part.shape[0]);
            slice.copy_(part);
            row += part.shape[0];
        }
        return result;
    }

    /// <summary>A CPU tensor on Linux of at least four huge pages (smaller ones gain little from the advice), with advice on.</summary>
    private static bool WorthMoving(Tensor t) =>
        Enabled && OperatingSystem.IsLinux() && t.device_type == DeviceType.CPU && t.NumberOfElements * t.ElementSize >= 4 * PageSize;

    private static void Advise(void* p, long bytes)
    {
        if (!Enabled || !OperatingSystem.IsLinux()) return;
        var start = ((long)p + PageSize - 1) & ~(PageSize - 1);
        var end = ((long)p + bytes) & ~(PageSize - 1);
        if (end > start) madvise((IntPtr)start, (nuint)(end - start), MadviseHugePage); // advice only: failure changes nothing
    }

    [LibraryImport("libc")]
    private static partial int madvise(IntPtr address, nuint length, int advice);
}
