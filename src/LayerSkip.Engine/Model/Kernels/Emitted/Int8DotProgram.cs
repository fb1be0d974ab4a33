using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// Unsigned int8 weight rows of <paramref name="padded"/> bytes (a multiple of 64) against int8 activation records
/// (<see cref="Record"/>: a row's values as <see cref="QuantizedActivation"/> makes them, then its float scale per
/// 64-block), with AVX-512 VNNI's VPDPBUSD on whole 64-byte blocks: each block's integer dot product, converted to
/// float32, is multiplied by the activation block's scale and added into one of two accumulators, even blocks into the
/// first and odd into the second. The kernel returns Σ_b xScale_b · Σ_{k in b} w_k · q_k; the weight scale and the
/// unsigned offset are the caller's.
/// </summary>
internal sealed class Int8DotProgram(int padded, int rows, int prefetchDistance) : RowDotProgram(rows, 2, padded, prefetchDistance)
{
    /// <summary>Bytes from one activation record to the next.</summary>
    public static int Record(int padded) => ActivationRecords.Bytes(padded, 4 * (padded / VectorBytes));

    protected override void EmitRow(Assembler a)
    {
        if (padded % VectorBytes != 0) throw new ArgumentException($"Rows of {padded} bytes are not whole 64-byte blocks.", nameof(padded));
        var blocks = padded / VectorBytes;
        var record = Record(padded);
        if ((long)Rows * record > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(padded), padded, "Rows too long for the kernel's 32-bit offsets.");
        var weight = Scratch(0);
        AssemblerRegisterZMM Dot(int r) => Scratch(1 + r);

        void Block(int chain, int offset)
        {
            a.vmovdqu8(weight, __zmmword_ptr[rdi + rax + offset * VectorBytes]);
            for (var r = 0; r < Rows; r++)
            {
                a.vpxord(Dot(r), Dot(r), Dot(r));
                a.vpdpbusd(Dot(r), weight, __zmmword_ptr[rdx + rax + r * record + offset * VectorBytes]);
                a.vcvtdq2ps(Dot(r), Dot(r));
                a.vfmadd231ps(Acc(r, chain), Dot(r), __dword_bcst[rdx + r10 + r * record + padded + offset * 4]);
            }
        }

        a.xor(eax, eax);   // byte offset into the weight row and the activation values
        a.xor(r10d, r10d); // byte offset into the activation scales
        if (blocks >= 2)
        {
            var pair = a.CreateLabel();
            a.Label(ref pair);
            Block(0, 0);
            Block(1, 1);
            a.add(rax, 2 * VectorBytes);
            a.add(r10, 8);
            a.cmp(rax, blocks / 2 * 2 * VectorBytes);
            a.jb(pair);
        }
        if (blocks % 2 == 1) Block(0, 0);
    }
}
