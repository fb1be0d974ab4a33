using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// Software prefetch of weight streams. The managed bfloat16 kernels (CPUs without AVX-512 BF16) do several
/// instructions of work per cache line and ask for the line 1 KiB ahead: full-depth bfloat16 decode on the
/// Llama-3.2-1B shape ran 8–17 % faster with it (docs/benchmarks.md). Most assembled one-row kernels, a few
/// instructions per line, do without: the bfloat16 one decoded that shape faster once its in-loop prefetch was
/// removed, and the int8 one measured no faster with one. The int4 superblock kernel is the exception
/// (<see cref="Int4RowDistance"/>). LAYERSKIP_PREFETCH=0 turns every software prefetch off (to compare).
/// Kernels read <see cref="Enabled"/> into a local before their loop: reading it inside can leave a class-initialisation
/// call in the loop (when the kernel compiles before this class is initialised), and around a call the compiler keeps
/// every vector accumulator on the stack, storing and reloading each one every iteration.
/// </summary>
internal static unsafe class Prefetch
{
    public const int Distance = 1024;

    /// <summary>
    /// How far ahead of the weight row it is reading an assembled kernel over several activation rows keeps its
    /// prefetches (<see cref="Emitted.RowDotProgram"/>): speculative decoding with int4 drafts on a bfloat16 model went
    /// from 1.11–1.25× to 1.45–1.70× plain decoding with it (docs/benchmarks.md).
    /// </summary>
    public const int FrontierDistance = 4096;

    /// <summary>
    /// How far ahead the one-row int4 superblock kernel asks for its weights. When the memory has bandwidth to spare, a
    /// core running that kernel runs out of loads in flight before the memory runs out of bandwidth, and the prefetches
    /// keep more lines coming: faster on one thread always, and on two in the machine's fast state; about the same when
    /// the memory is the limit (docs/benchmarks.md).
    /// </summary>
    public const int Int4RowDistance = 2048;

    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("LAYERSKIP_PREFETCH") != "0" && Sse.IsSupported;

    /// <summary>
    /// The two cache lines <see cref="Distance"/> bytes after <paramref name="p"/>, for a loop that reads 128 bytes a step;
    /// only when <see cref="Enabled"/> (which the caller checks).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void TwoLines(void* p)
    {
        Sse.Prefetch0((byte*)p + Distance);
        Sse.Prefetch0((byte*)p + Distance + 64);
    }
}
