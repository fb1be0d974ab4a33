using System.Runtime.CompilerServices;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// Scratch for the activation rows an assembled kernel reads: a pinned array (it never moves) whose returned start is on
/// a 64-byte line, so no vector load of a row straddles two lines (a verification loads each of its rows once per
/// weight vector, and a straddling load costs two).
/// </summary>
internal static unsafe class AlignedActivations
{
    /// <summary>At least <paramref name="bytes"/> bytes starting on a cache line, in <paramref name="buffer"/> (grown as needed).</summary>
    public static byte* Rows(ref byte[]? buffer, long bytes)
    {
        var needed = checked((int)bytes + RowDotProgram.VectorBytes);
        if (buffer is null || buffer.Length < needed)
            buffer = GC.AllocateUninitializedArray<byte>(Math.Max(needed, 2 * (buffer?.Length ?? 0)), pinned: true);
        var start = (nint)Unsafe.AsPointer(ref buffer[0]);
        return (byte*)((start + RowDotProgram.VectorBytes - 1) & -RowDotProgram.VectorBytes);
    }
}
