using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// bfloat16 weight rows of k elements against bfloat16 activation rows <see cref="ActivationStride"/> elements apart,
/// with AVX-512 BF16's VDPBF16PS (two bfloat16 products added into each float32 lane). Four accumulators a row: a row
/// steps through its weight row 256 bytes at a time (one 64-byte vector into each accumulator), then 64 bytes at a time
/// into the first, then a masked last vector of fewer than 32 elements into the second. <paramref name="prefetchDistance"/>
/// is the frame's row-start prefetch (kernels over several rows, see <see cref="RowDotProgram"/>).
/// </summary>
internal sealed class Bf16DotProgram(int k, int rows, int prefetchDistance) : RowDotProgram(rows, 4, 2L * k, prefetchDistance)
{
    /// <summary>Elements from one activation row to the next: k rounded up to whole 64-byte lines.</summary>
    public static int ActivationStride(int k) => (k + VectorBytes / 2 - 1) / (VectorBytes / 2) * (VectorBytes / 2);

    protected override void EmitRow(Assembler a)
    {
        long rowBytes = WeightRowBytes, xRowBytes = 2L * ActivationStride(k);
        var stepBytes = Chains * VectorBytes;
        var mainBytes = rowBytes / stepBytes * stepBytes;
        var vectorBytes = rowBytes / VectorBytes * VectorBytes;
        var tail = (int)(k % 32);
        if (Rows * xRowBytes + stepBytes > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(k), k, "Rows too long for the kernel's 32-bit offsets.");
        var weight = new[] { Scratch(0), Scratch(1), Scratch(2), Scratch(3) };

        a.xor(eax, eax);
        if (mainBytes > 0)
        {
            var step = a.CreateLabel();
            a.Label(ref step);
            for (var c = 0; c < Chains; c++) a.vmovups(weight[c], __zmmword_ptr[rdi + rax + c * VectorBytes]);
            for (var r = 0; r < Rows; r++)
                for (var c = 0; c < Chains; c++)
                    a.vdpbf16ps(Acc(r, c), weight[c], __zmmword_ptr[rdx + rax + (int)(r * xRowBytes) + c * VectorBytes]);
            a.add(rax, stepBytes);
            a.cmp(rax, (int)mainBytes);
            a.jb(step);
        }
        if (vectorBytes > mainBytes)
        {
            var vector = a.CreateLabel();
            a.Label(ref vector);
            a.vmovups(weight[0], __zmmword_ptr[rdi + rax]);
            for (var r = 0; r < Rows; r++) a.vdpbf16ps(Acc(r, 0), weight[0], __zmmword_ptr[rdx + rax + (int)(r * xRowBytes)]);
            a.add(rax, VectorBytes);
            a.cmp(rax, (int)vectorBytes);
            a.jb(vector);
        }
        if (tail > 0)
        {
            // Masked loads read only the row's last elements (and never fault past its end); the other lanes are zero.
            a.mov(r10d, (int)((1u << tail) - 1));
            a.kmovd(k1, r10d);
            a.vmovdqu16(weight[0].k1.z, __zmmword_ptr[rdi + rax]);
            for (var r = 0; r < Rows; r++)
            {
                a.vmovdqu16(weight[1].k1.z, __zmmword_ptr[rdx + rax + (int)(r * xRowBytes)]);
                a.vdpbf16ps(Acc(r, 1), weight[0], weight[1]);
            }
        }
    }
}
