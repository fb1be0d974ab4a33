using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// <see cref="Int4MatVec"/>'s rows in superblocks of <see cref="Columns"/> columns against int8 activation records, with
/// AVX-512 VNNI's VPDPBUSD. In a superblock's 512 bytes, vector v (of eight) holds in lane i (of sixteen) four bytes of
/// the superblock's 64-column chunk i: their low nibbles are the chunk's columns 4v to 4v + 3, their high nibbles
/// columns 32 + 4v to 32 + 4v + 3. Every lane therefore stays with one chunk, so the superblock's sixteen products sum
/// in integers and become floats once: times the activation's chunk scales and the weights' group scales, spread over
/// the lanes. <see cref="Int4DotProgram"/> converts and scales every 64 bytes instead; with that work, and the shift of
/// the high nibbles, gone from the loop, this kernel reads the Llama-3.2-1B shape's matrices from memory several
/// percent faster (docs/benchmarks.md). The activation values are laid out to match (<see cref="Layout"/>); after the
/// row's superblocks its mins times the activation's group sums go into the second accumulator, as in
/// <see cref="Int4DotProgram"/>.
/// </summary>
internal sealed class Int4SuperblockProgram(int padded, int groupSize, int rows, int prefetchDistance) : RowDotProgram(rows, 2, padded / 2, prefetchDistance, GroupMins.RowDataBytes(padded / groupSize))
{
    public const int Columns = 1024;
    private const int Chunk = QuantizedActivation.Block;
    private const int Chunks = Columns / Chunk;
    private const int Bytes = Columns / 2;

    /// <summary>Rows of whole superblocks, groups from 128 columns to one superblock.</summary>
    public static bool Fits(int padded, int groupSize) =>
        padded > 0 && padded % Columns == 0 && groupSize is >= 2 * Chunk and <= Columns && Columns % groupSize == 0;

    /// <summary>Bytes from one activation record to the next: the values, one scale per chunk, the group sums.</summary>
    public static int Record(int padded, int groups) => ActivationRecords.Bytes(padded, padded / Chunk * 4 + GroupMins.SumsBytes(groups));

    /// <summary>Where column <paramref name="k"/>'s code sits in a packed row: its byte, and whether it is the high nibble.</summary>
    public static (int Byte, bool High) Place(int k)
    {
        int block = k / Columns, chunk = k % Columns / Chunk, column = k % Chunk;
        var high = column >= 32;
        var v = column % 32 / 4;
        return (block * Bytes + v * VectorBytes + 4 * chunk + column % 4, high);
    }

    /// <summary>
    /// One activation record from a quantized row (<paramref name="padded"/> values, one scale per chunk, the sums of
    /// its dequantized values over each group): per superblock and vector v, the low vector (lane i: chunk i's columns
    /// 4v to 4v + 3) then the high vector (columns 32 + 4v to 32 + 4v + 3); then the chunk scales; then the group sums.
    /// </summary>
    public static unsafe void Layout(sbyte* row, float* scales, float* groupSums, int padded, int groups, byte* record)
    {
        var values = (uint*)record;
        var source = (uint*)row; // four columns a word: column 4w to 4w + 3
        for (var block = 0; block < padded / Columns; block++)
            for (var v = 0; v < 8; v++)
                for (var i = 0; i < Chunks; i++)
                {
                    var word = (block * Columns + i * Chunk) / 4 + v;
                    values[(block * Columns + v * 2 * VectorBytes) / 4 + i] = source[word];
                    values[(block * Columns + v * 2 * VectorBytes + VectorBytes) / 4 + i] = source[word + 8];
                }
        new ReadOnlySpan<float>(scales, padded / Chunk).CopyTo(new Span<float>(record + padded, padded / Chunk));
        GroupMins.WriteSums(groupSums, groups, record + padded + padded / Chunk * 4);
    }

    /// <summary>Integer accumulators per activation row: low and high nibbles apart, or one for the most rows a call takes.</summary>
    private static int IntegerChains(int rows) => rows < MaxRows ? 2 : 1;

    private AssemblerRegisterZMM Weight => Scratch(0);
    private AssemblerRegisterZMM Mask => Scratch(2);
    private AssemblerRegisterZMM Spread => Scratch(3);
    private AssemblerRegisterZMM WeightScales => Scratch(4);
    private AssemblerRegisterZMM HighMask => Scratch(5);

    /// <summary>
    /// The low- and high-nibble masks; the lane → group spread (lane i reads the superblock's group i · 64 / groupSize),
    /// from two immediates; k3 selects the superblock's group scales.
    /// </summary>
    protected override void EmitSetup(Assembler a)
    {
        ulong Indexes(int half) => Enumerable.Range(0, 8).Aggregate(0UL, (bits, j) => bits | (ulong)((half * 8 + j) * Chunk / groupSize) << (8 * j));
        a.mov(r11, unchecked((long)Indexes(0)));
        a.vmovq(Low128(Spread), r11);
        a.mov(r11, unchecked((long)Indexes(1)));
        a.vpinsrq(Low128(Spread), Low128(Spread), r11, 1);
        a.vpmovzxbd(Spread, Low128(Spread));
        a.mov(r11d, (1 << (Columns / groupSize)) - 1);
        a.kmovw(k3, r11d);
        a.mov(r11d, 0x0F0F0F0F);
        a.vpbroadcastd(Mask, r11d);
        a.mov(r11d, unchecked((int)0xF0F0F0F0));
        a.vpbroadcastd(HighMask, r11d);
    }

    protected override void EmitRow(Assembler a)
    {
        if (!Fits(padded, groupSize)) throw new ArgumentException($"No int4 superblock kernel for groups of {groupSize} in rows of {padded}.", nameof(groupSize));
        var groups = padded / groupSize;
        var record = Record(padded, groups);
        if ((long)Rows * record > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(padded), padded, "Rows too long for the kernel's 32-bit offsets.");
        var perBlock = Columns / groupSize;
        // With two accumulators a row, the high nibbles are only masked in place (16 times their value) and their sum
        // shifted down at the end, exactly, as every product of it is a multiple of 16; one accumulator takes them shifted.
        var split = IntegerChains(Rows) == 2;
        AssemblerRegisterZMM weight = Weight, low = Scratch(1);
        AssemblerRegisterZMM Dot(int r, int c) => Scratch(6 + r * IntegerChains(Rows) + c);
        AssemblerRegisterZMM HighDot(int r) => split ? Dot(r, 1) : Dot(r, 0);

        // rax: byte offset into the weight row (the activation values are at twice it); r10: into the chunk scales;
        // r11: into the row's group scales.
        a.xor(eax, eax);
        a.xor(r10d, r10d);
        a.xor(r11d, r11d);
        var block = a.CreateLabel();
        a.Label(ref block);
        for (var r = 0; r < Rows; r++)
            for (var c = 0; c < IntegerChains(Rows); c++) a.vpxord(Dot(r, c), Dot(r, c), Dot(r, c));
        for (var v = 0; v < 8; v++)
        {
            // One load a line: a second memory operand on a line still on its way would ask for it again.
            a.vmovdqu8(weight, __zmmword_ptr[rdi + rax + v * VectorBytes]);
            a.vpandd(low, weight, Mask);
            if (!split) a.vpsrlw(weight, weight, 4);
            a.vpandd(weight, weight, split ? HighMask : Mask);
            for (var r = 0; r < Rows; r++)
            {
                var values = r * record + 2 * v * VectorBytes;
                a.vpdpbusd(Dot(r, 0), low, __zmmword_ptr[rdx + rax * 2 + values]);
                a.vpdpbusd(HighDot(r), weight, __zmmword_ptr[rdx + rax * 2 + values + VectorBytes]);
            }
        }
        a.vmovups(WeightScales.k3.z, __zmmword_ptr[r9 + r11]);
        a.vpermps(WeightScales, Spread, WeightScales);
        for (var r = 0; r < Rows; r++)
        {
            var dot = Dot(r, 0);
            if (split)
            {
                a.vpsrad(Dot(r, 1), Dot(r, 1), 4);
                a.vpaddd(dot, dot, Dot(r, 1));
            }
            a.vcvtdq2ps(dot, dot);
            a.vmulps(dot, dot, __zmmword_ptr[rdx + r10 + r * record + padded]);
            a.vfmadd231ps(Acc(r, 0), dot, WeightScales);
        }
        a.add(rax, Bytes);
        a.add(r10, Chunks * 4);
        a.add(r11, perBlock * 4);
        a.cmp(rax, padded / 2);
        a.jb(block);

        GroupMins.Emit(a, groups, Rows, record, padded + padded / Chunk * 4, weight, r => Acc(r, 1));
    }
}
