using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// <see cref="Int4MatVec"/>'s packed rows (in each 64-column chunk's 32 bytes the low nibbles are columns 0–31, the
/// high nibbles 32–63) against int8 activation records, with AVX-512 VNNI's VPDPBUSD, for groups of 128 columns or
/// more. One 64-byte load holds chunks b and b + 1: a mask gives their columns 0–31 side by side, a shift and a mask
/// their columns 32–63, and the activation values are laid out to match (<see cref="Layout"/>). A pair's dot product
/// then has chunk b in lanes 0–7 and b + 1 in lanes 8–15; times the activation chunk scales spread the same way and
/// summed over the group's pairs, it is multiplied by the group's weight scale and added into one of two accumulators,
/// even groups into the first and odd into the second. The last argument points at the weight row's own data, its group
/// scales then its group mins; after the row's groups, its mins times the activation's group sums (sixteen groups a
/// vector) go into the second accumulator, so the mins stream with the row rather than in a pass of their own.
/// </summary>
internal sealed class Int4DotProgram(int padded, int groupSize, int rows, int prefetchDistance) : RowDotProgram(rows, 2, padded / 2, prefetchDistance, GroupMins.RowDataBytes(padded / groupSize))
{
    private const int Chunk = QuantizedActivation.Block;

    public static bool Supports(int groupSize) => groupSize >= 2 * Chunk;

    /// <summary>Bytes from one activation record to the next: the values, each chunk's scale eight times, the group sums.</summary>
    public static int Record(int padded, int groups) => ActivationRecords.Bytes(padded, padded / 2 + GroupMins.SumsBytes(groups));

    /// <summary>
    /// One activation record from a quantized row (<paramref name="padded"/> values, one scale per 64, the sums of its
    /// dequantized values over each group): per chunk pair, columns 0–31 of b, of b + 1, then 32–63 of b, of b + 1;
    /// then per pair b's scale eight times and b + 1's eight times; then the group sums.
    /// </summary>
    public static unsafe void Layout(sbyte* row, float* scales, float* groupSums, int padded, int groups, byte* record)
    {
        var values = (sbyte*)record;
        var chunkScales = (float*)(record + padded);
        for (var c = 0; c < padded; c += 2 * Chunk)
        {
            new ReadOnlySpan<sbyte>(row + c, 32).CopyTo(new Span<sbyte>(values + c, 32));
            new ReadOnlySpan<sbyte>(row + c + 64, 32).CopyTo(new Span<sbyte>(values + c + 32, 32));
            new ReadOnlySpan<sbyte>(row + c + 32, 32).CopyTo(new Span<sbyte>(values + c + 64, 32));
            new ReadOnlySpan<sbyte>(row + c + 96, 32).CopyTo(new Span<sbyte>(values + c + 96, 32));
            new Span<float>(chunkScales + c / 8, 8).Fill(scales[c / Chunk]);
            new Span<float>(chunkScales + c / 8 + 8, 8).Fill(scales[c / Chunk + 1]);
        }
        GroupMins.WriteSums(groupSums, groups, record + padded + padded / 2);
    }

    protected override void EmitRow(Assembler a)
    {
        if (!Supports(groupSize) || padded % groupSize != 0)
            throw new ArgumentException($"No int4 kernel for groups of {groupSize} in rows of {padded}.", nameof(groupSize));
        var groups = padded / groupSize;
        var record = Record(padded, groups);
        if ((long)Rows * record > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(padded), padded, "Rows too long for the kernel's 32-bit offsets.");
        var pairs = groupSize / (2 * Chunk);
        AssemblerRegisterZMM weight = Scratch(0), low = Scratch(1), high = Scratch(2), mask = Scratch(3);
        AssemblerRegisterZMM Dot(int r) => Scratch(4 + 2 * r);
        AssemblerRegisterZMM Group(int r) => Scratch(5 + 2 * r);

        // rax: byte offset into the weight row; the activation values are at twice it, the spread chunk scales at it.
        void OneGroup(int chain)
        {
            for (var p = 0; p < pairs; p++)
            {
                var w = p * VectorBytes;
                a.vmovdqu8(weight, __zmmword_ptr[rdi + rax + w]);
                a.vpandd(low, weight, mask);
                a.vpsrlw(high, weight, 4);
                a.vpandd(high, high, mask);
                for (var r = 0; r < Rows; r++)
                {
                    a.vpxord(Dot(r), Dot(r), Dot(r));
                    a.vpdpbusd(Dot(r), low, __zmmword_ptr[rdx + rax * 2 + r * record + 2 * w]);
                    a.vpdpbusd(Dot(r), high, __zmmword_ptr[rdx + rax * 2 + r * record + 2 * w + VectorBytes]);
                    a.vcvtdq2ps(Dot(r), Dot(r));
                    var scales = __zmmword_ptr[rdx + rax + r * record + padded + w];
                    if (p == 0) a.vmulps(Group(r), Dot(r), scales);
                    else a.vfmadd231ps(Group(r), Dot(r), scales);
                }
            }
            for (var r = 0; r < Rows; r++) a.vfmadd231ps(Acc(r, chain), Group(r), __dword_bcst[r9 + r10]);
            a.add(rax, pairs * VectorBytes);
            a.add(r10, 4);
        }

        a.mov(r11d, 0x0F0F0F0F);
        a.vpbroadcastd(mask, r11d);
        a.xor(eax, eax);
        a.xor(r10d, r10d); // byte offset into the row's group scales
        if (groups >= 2)
        {
            var twoGroups = a.CreateLabel();
            a.Label(ref twoGroups);
            OneGroup(0);
            OneGroup(1);
            a.cmp(r10, groups / 2 * 2 * 4);
            a.jb(twoGroups);
        }
        if (groups % 2 == 1) OneGroup(0);

        GroupMins.Emit(a, groups, Rows, record, padded + padded / 2, weight, r => Acc(r, 1));
    }
}
