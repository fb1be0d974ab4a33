using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// Writes the machine code of <see cref="Bf16DotKernel"/> for one row length and one number of activation rows.
/// <para>
/// The function (System V x64 calling convention):
/// <c>void f(ushort* w, long weightRows, ushort* x, float* y, long yStride)</c> sets
/// <c>y[r * yStride + j] = Σ_i w[j * k + i] · x[r * s + i]</c> for every weight row j and activation row r, where the
/// activation rows are <c>s = </c><see cref="ActivationStride"/> elements apart (whole cache lines).
/// </para>
/// <para>
/// Each activation row has four float32 accumulators, and VDPBF16PS adds two bfloat16 products into each lane. A row
/// steps through its weight row 256 bytes at a time (one 64-byte vector into each accumulator), then 64 bytes at a time
/// into the first, then a masked last vector of fewer than 32 elements into the second; the four are summed as
/// ((a0 + a1) + (a2 + a3)) and the lanes halved down to one. That order depends on k alone, never on how many rows share
/// the call: a row gets the same bits alone or in a batch.
/// </para>
/// </summary>
internal static class Bf16DotProgram
{
    /// <summary>Four accumulators a row and four weight vectors fill the 32 vector registers at seven rows.</summary>
    public const int MaxRows = 7;

    public const int VectorBytes = 64;
    private const int Chains = 4;

    /// <summary>Elements from one activation row to the next: k rounded up to whole 64-byte lines.</summary>
    public static int ActivationStride(int k) => (k + VectorBytes / 2 - 1) / (VectorBytes / 2) * (VectorBytes / 2);

    public static byte[] Emit(int k, int rows, int prefetchDistance)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "A row needs at least one element.");
        if (rows is < 1 or > MaxRows) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"One call takes 1 to {MaxRows} activation rows.");
        var a = new Assembler(64) { PreferVex = false }; // registers 16–31 need EVEX
        long rowBytes = 2L * k, xRowBytes = 2L * ActivationStride(k);
        var stepBytes = Chains * VectorBytes;
        var mainBytes = rowBytes / stepBytes * stepBytes;
        var vectorBytes = rowBytes / VectorBytes * VectorBytes;
        var tail = (int)(k % 32);
        AssemblerRegisterZMM Acc(int row, int chain) => Zmm[Chains * row + chain];
        var weight = new[] { zmm28, zmm29, zmm30, zmm31 };
        if (rows * xRowBytes + prefetchDistance + stepBytes > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(k), k, "Rows too long for the kernel's 32-bit offsets.");

        Label next = a.CreateLabel(), done = a.CreateLabel(), step = a.CreateLabel(), vector = a.CreateLabel();
        // rdi = w, rsi = weight rows, rdx = x, rcx = y, r8 = y stride in floats (then bytes)
        a.shl(r8, 2);
        if (tail > 0)
        {
            a.mov(eax, (int)((1u << tail) - 1));
            a.kmovd(k1, eax);
        }
        a.Label(ref next);
        a.test(rsi, rsi);
        a.jz(done);
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < Chains; c++) a.vpxord(Acc(r, c), Acc(r, c), Acc(r, c));
        a.xor(eax, eax);
        if (mainBytes > 0)
        {
            a.Label(ref step);
            if (prefetchDistance > 0)
                for (var c = 0; c < Chains; c++) a.prefetcht0(__[rdi + rax + prefetchDistance + c * VectorBytes]);
            for (var c = 0; c < Chains; c++) a.vmovups(weight[c], __zmmword_ptr[rdi + rax + c * VectorBytes]);
            for (var r = 0; r < rows; r++)
                for (var c = 0; c < Chains; c++)
                    a.vdpbf16ps(Acc(r, c), weight[c], __zmmword_ptr[rdx + rax + (int)(r * xRowBytes) + c * VectorBytes]);
            a.add(rax, stepBytes);
            a.cmp(rax, (int)mainBytes);
            a.jb(step);
        }
        if (vectorBytes > mainBytes)
        {
            a.Label(ref vector);
            a.vmovups(weight[0], __zmmword_ptr[rdi + rax]);
            for (var r = 0; r < rows; r++) a.vdpbf16ps(Acc(r, 0), weight[0], __zmmword_ptr[rdx + rax + (int)(r * xRowBytes)]);
            a.add(rax, VectorBytes);
            a.cmp(rax, (int)vectorBytes);
            a.jb(vector);
        }
        if (tail > 0)
        {
            // Masked loads read only the row's last elements (and never fault past its end); the rest of the lanes are zero.
            a.vmovdqu16(weight[0].k1.z, __zmmword_ptr[rdi + rax]);
            for (var r = 0; r < rows; r++)
            {
                a.vmovdqu16(weight[1].k1.z, __zmmword_ptr[rdx + rax + (int)(r * xRowBytes)]);
                a.vdpbf16ps(Acc(r, 1), weight[0], weight[1]);
            }
        }
        a.mov(r9, rcx);
        for (var r = 0; r < rows; r++)
        {
            var (s, t) = (Chains * r, Chains * r + 1);
            a.vaddps(Acc(r, 0), Acc(r, 0), Acc(r, 1));
            a.vaddps(Acc(r, 2), Acc(r, 2), Acc(r, 3));
            a.vaddps(Acc(r, 0), Acc(r, 0), Acc(r, 2));
            a.vextractf32x8(Ymm[t], Zmm[s], 1);
            a.vaddps(Ymm[s], Ymm[s], Ymm[t]);
            a.vextractf32x4(Xmm[t], Ymm[s], 1);
            a.vaddps(Xmm[s], Xmm[s], Xmm[t]);
            a.vmovhlps(Xmm[t], Xmm[s], Xmm[s]);
            a.vaddps(Xmm[s], Xmm[s], Xmm[t]);
            a.vmovshdup(Xmm[t], Xmm[s]);
            a.vaddss(Xmm[s], Xmm[s], Xmm[t]);
            a.vmovss(__dword_ptr[r9], Xmm[s]);
            a.add(r9, r8);
        }
        a.add(rdi, (int)rowBytes);
        a.add(rcx, 4);
        a.dec(rsi);
        a.jmp(next);
        a.Label(ref done);
        a.vzeroupper();
        a.ret();

        var code = new MemoryStream();
        a.Assemble(new StreamCodeWriter(code), 0); // position-independent: jumps are relative, no data is addressed
        return code.ToArray();
    }

    private static readonly AssemblerRegisterZMM[] Zmm =
    [
        zmm0, zmm1, zmm2, zmm3, zmm4, zmm5, zmm6, zmm7, zmm8, zmm9, zmm10, zmm11, zmm12, zmm13,
        zmm14, zmm15, zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm24, zmm25, zmm26, zmm27,
    ];

    private static readonly AssemblerRegisterYMM[] Ymm =
    [
        ymm0, ymm1, ymm2, ymm3, ymm4, ymm5, ymm6, ymm7, ymm8, ymm9, ymm10, ymm11, ymm12, ymm13,
        ymm14, ymm15, ymm16, ymm17, ymm18, ymm19, ymm20, ymm21, ymm22, ymm23, ymm24, ymm25, ymm26, ymm27,
    ];

    private static readonly AssemblerRegisterXMM[] Xmm =
    [
        xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13,
        xmm14, xmm15, xmm16, xmm17, xmm18, xmm19, xmm20, xmm21, xmm22, xmm23, xmm24, xmm25, xmm26, xmm27,
    ];
}
