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
    private const long SmallPage = 4096;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE
    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20;

    /// <summary>
    /// Native memory for <paramref name="bytes"/>, 64-byte aligned; free it with <see cref="Free"/>. A large block is a
    /// fresh mapping of its own, 2 MiB-aligned and advised before anything touches it: a block from the C heap may
    /// reuse pages an earlier, freed tensor already faulted in as 4 KiB pages, which the advice does not change (many
    /// of a quantized model's layer matrices stayed on 4 KiB pages that way).
    /// </summary>
    public static void* Allocate(long bytes)
    {
        if (!Mapped(bytes)) return NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 64);
        // Map 2 MiB more than needed, then unmap the slack either side of the 2 MiB boundary the block starts at.
        var length = MappedLength(bytes);
        var mapping = mmap(0, (nuint)(length + PageSize), ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (mapping == -1) throw new OutOfMemoryException($"Could not map {bytes} bytes for a weight matrix (errno {Marshal.GetLastPInvokeError()}).");
        var start = ((long)mapping + PageSize - 1) & ~(PageSize - 1);
        if (start > mapping) munmap(mapping, (nuint)(start - mapping));
        var slack = mapping + PageSize - start;
        if (slack > 0) munmap((nint)(start + length), (nuint)slack);
        Advise((void*)start, length);
        return (void*)start;
    }

    /// <summary>Frees a block from <see cref="Allocate"/> of the same <paramref name="bytes"/>.</summary>
    public static void Free(void* p, long bytes)
    {
        if (p == null) return;
        if (Mapped(bytes)) munmap((nint)p, (nuint)MappedLength(bytes));
        else NativeMemory.AlignedFree(p);
    }

    /// <summary>Whether a block of this size gets a mapping of its own (Linux, advice on, at least one huge page).</summary>
    private static bool Mapped(long bytes) => Enabled && OperatingSystem.IsLinux() && bytes >= PageSize;

    private static long MappedLength(long bytes) => (bytes + SmallPage - 1) / SmallPage * SmallPage;

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

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc")]
    private static partial int munmap(nint address, nuint length);
}
