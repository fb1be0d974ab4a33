using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// What the int4 kernels add after a weight row's codes: Σ_g min_g · groupSum_g, the row's group mins (which follow its
/// group scales in the row's own data, at r9) against the group sums at the end of each activation record, sixteen
/// groups a vector. The mins stream with the row rather than in a pass of their own.
/// </summary>
internal static class GroupMins
{
    private const int Lanes = RowDotProgram.VectorBytes / 4;

    /// <summary>The bytes of a weight row's own data: its group scales, then its group mins, a float each.</summary>
    public static int RowDataBytes(int groups) => 2 * 4 * groups;

    /// <summary>The group sums' bytes in a record: whole vectors, the lanes past the last group zero.</summary>
    public static int SumsBytes(int groups) => (groups + Lanes - 1) / Lanes * RowDotProgram.VectorBytes;

    /// <summary>Writes a record's group sums at <paramref name="destination"/>, with zeros in the lanes past the last group.</summary>
    public static unsafe void WriteSums(float* groupSums, int groups, byte* destination)
    {
        var sums = new Span<float>(destination, SumsBytes(groups) / 4);
        new ReadOnlySpan<float>(groupSums, groups).CopyTo(sums);
        sums[groups..].Clear(); // the buffer is reused: the mins' zero lanes must meet zeros, not an earlier product
    }

    /// <summary>
    /// Adds the sum into <paramref name="accumulator"/>(r) for each of <paramref name="rows"/> activation records,
    /// <paramref name="record"/> bytes apart from rdx, their sums <paramref name="sumsOffset"/> bytes into each; a partial
    /// last vector of mins is loaded masked (k2), so its lanes past the last group are zero.
    /// </summary>
    public static void Emit(Assembler a, int groups, int rows, int record, int sumsOffset, AssemblerRegisterZMM scratch,
        Func<int, AssemblerRegisterZMM> accumulator)
    {
        for (var v = 0; v * Lanes < groups; v++)
        {
            var lanes = Math.Min(Lanes, groups - v * Lanes);
            var mins = __zmmword_ptr[r9 + 4 * groups + v * RowDotProgram.VectorBytes];
            if (lanes < Lanes)
            {
                a.mov(r11d, (1 << lanes) - 1);
                a.kmovw(k2, r11d);
                a.vmovups(scratch.k2.z, mins);
            }
            else a.vmovups(scratch, mins);
            for (var r = 0; r < rows; r++)
                a.vfmadd231ps(accumulator(r), scratch, __zmmword_ptr[rdx + r * record + sumsOffset + v * RowDotProgram.VectorBytes]);
        }
    }
}
