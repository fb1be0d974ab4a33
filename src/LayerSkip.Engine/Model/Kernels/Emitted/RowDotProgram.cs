using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// The frame every run-time-assembled product kernel shares. The function (System V x64 calling convention):
/// <c>void f(void* w, long weightRows, void* x, float* y, long yStride, void* weightRowData)</c> walks the weight rows from
/// <c>w</c>; for each it zeroes each activation row's accumulators, lets the format's <see cref="EmitRow"/> add that
/// weight row's products into them, sums each activation row's accumulators (a0 + a1, or (a0 + a1) + (a2 + a3), then
/// the sixteen lanes halved down to one) and stores the sum at <c>y[r * yStride + j]</c>. The order of every addition depends on
/// the row length alone, never on how many activation rows share the call, so a row gets the same bits alone or in a
/// batch. With a prefetch distance, each weight row first asks for the lines ahead of it (<see cref="EmitPrefetch"/>).
/// A format with data of its own per weight row (int4's group scales and mins) gets it at r9, stepped row by row, and
/// asked for a few rows ahead (<see cref="EmitRowDataPrefetch"/>).
/// </summary>
internal abstract class RowDotProgram
{
    /// <summary>Accumulators and scratch vectors of seven activation rows still fit the 32 vector registers.</summary>
    public const int MaxRows = 7;

    public const int VectorBytes = 64;

    /// <summary>How many weight rows ahead the frame asks for a row's own data.</summary>
    public const int RowDataAhead = 8;

    protected RowDotProgram(int rows, int chains, long weightRowBytes, int prefetchDistance, int rowDataBytes = 0)
    {
        if (prefetchDistance is < 0 or > 1 << 20) throw new ArgumentOutOfRangeException(nameof(prefetchDistance), prefetchDistance, "0 (none) to 1 MiB ahead.");
        if (rows is < 1 or > MaxRows) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"One call takes 1 to {MaxRows} activation rows.");
        if (chains is not (2 or 4)) throw new ArgumentOutOfRangeException(nameof(chains), chains, "Two or four accumulators a row.");
        if (weightRowBytes <= 0 || weightRowBytes > int.MaxValue / 2) throw new ArgumentOutOfRangeException(nameof(weightRowBytes));
        if (rowDataBytes < 0 || (long)rowDataBytes * (RowDataAhead + 1) > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(rowDataBytes));
        Rows = rows;
        Chains = chains;
        WeightRowBytes = weightRowBytes;
        PrefetchDistance = prefetchDistance;
        RowDataBytes = rowDataBytes;
    }

    protected int Rows { get; }
    protected int Chains { get; }
    protected long WeightRowBytes { get; }
    protected int PrefetchDistance { get; }
    /// <summary>The bytes of each weight row's own data at r9 (0: the format has none).</summary>
    protected int RowDataBytes { get; }

    /// <summary>Activation row r's accumulator c (float32 lanes).</summary>
    protected AssemblerRegisterZMM Acc(int row, int chain) => Zmm[Chains * row + chain];

    /// <summary>A vector register the accumulators leave free: 0 ≤ i &lt; 32 − rows · chains.</summary>
    protected AssemblerRegisterZMM Scratch(int i) =>
        i >= 0 && Rows * Chains + i < 32 ? Zmm[31 - i] : throw new ArgumentOutOfRangeException(nameof(i), i, "Out of vector registers.");

    /// <summary>The low 128 bits of a vector register.</summary>
    protected static AssemblerRegisterXMM Low128(AssemblerRegisterZMM register) => Xmm[register.Value - Register.ZMM0];

    /// <summary>
    /// Adds one weight row's products into <see cref="Acc(int, int)"/>. On entry rdi points at the weight row, rdx at
    /// the activation rows, r9 at the weight row's own data (the sixth argument, <see cref="RowDataBytes"/> a row);
    /// rax, r10 and r11 are free.
    /// </summary>
    protected abstract void EmitRow(Assembler a);

    /// <summary>
    /// Once before the first weight row: constants the rows share, in registers <see cref="EmitRow"/> leaves alone
    /// (rax, r10 and r11 are free here too).
    /// </summary>
    protected virtual void EmitSetup(Assembler a) { }

    public byte[] Emit()
    {
        var a = new Assembler(64) { PreferVex = false }; // registers 16–31 need EVEX
        Label next = a.CreateLabel(), done = a.CreateLabel();
        a.push(rbx);
        a.push(r12);
        a.shl(r8, 2); // y stride in bytes
        a.mov(r12, rdi); // the prefetch frontier: weight bytes before it have been asked for
        EmitSetup(a);
        a.Label(ref next);
        a.test(rsi, rsi);
        a.jz(done);
        if (PrefetchDistance > 0) EmitPrefetch(a);
        EmitRowDataPrefetch(a);
        for (var r = 0; r < Rows; r++)
            for (var c = 0; c < Chains; c++) a.vpxord(Acc(r, c), Acc(r, c), Acc(r, c));
        EmitRow(a);
        a.mov(rbx, rcx);
        for (var r = 0; r < Rows; r++)
        {
            var (s, t) = (Chains * r, Chains * r + 1);
            if (Chains == 4)
            {
                a.vaddps(Acc(r, 0), Acc(r, 0), Acc(r, 1));
                a.vaddps(Acc(r, 2), Acc(r, 2), Acc(r, 3));
                a.vaddps(Acc(r, 0), Acc(r, 0), Acc(r, 2));
            }
            else a.vaddps(Acc(r, 0), Acc(r, 0), Acc(r, 1));
            a.vextractf32x8(Ymm[t], Zmm[s], 1);
            a.vaddps(Ymm[s], Ymm[s], Ymm[t]);
            a.vextractf32x4(Xmm[t], Ymm[s], 1);
            a.vaddps(Xmm[s], Xmm[s], Xmm[t]);
            a.vmovhlps(Xmm[t], Xmm[s], Xmm[s]);
            a.vaddps(Xmm[s], Xmm[s], Xmm[t]);
            a.vmovshdup(Xmm[t], Xmm[s]);
            a.vaddss(Xmm[s], Xmm[s], Xmm[t]);
            a.vmovss(__dword_ptr[rbx], Xmm[s]);
            a.add(rbx, r8);
        }
        a.add(rdi, (int)WeightRowBytes);
        if (RowDataBytes > 0) a.add(r9, RowDataBytes);
        a.add(rcx, 4);
        a.dec(rsi);
        a.jmp(next);
        a.Label(ref done);
        a.pop(r12);
        a.pop(rbx);
        a.vzeroupper();
        a.ret();

        var code = new MemoryStream();
        a.Assemble(new StreamCodeWriter(code), 0); // position-independent: jumps are relative, no data is addressed
        return code.ToArray();
    }

    /// <summary>
    /// Before each weight row, asks for every line up to <see cref="PrefetchDistance"/> bytes past the row's end that
    /// has not been asked for yet, in one burst. A kernel that does several instructions of work per weight line (one
    /// over a verification's several activation rows) otherwise stops reading memory while it computes: its loads wait
    /// behind the arithmetic, and the times of the two add up instead of overlapping. Prefetches issued ahead of the
    /// arithmetic keep the reads going. A prefetch never faults, so running past the matrix is harmless.
    /// </summary>
    private void EmitPrefetch(Assembler a)
    {
        Label ask = a.CreateLabel(), asked = a.CreateLabel();
        a.lea(r11, __[rdi + (int)(WeightRowBytes + PrefetchDistance)]);
        a.cmp(r12, r11);
        a.jae(asked);
        a.Label(ref ask);
        a.prefetcht0(__[r12]);
        a.add(r12, 64);
        a.cmp(r12, r11);
        a.jb(ask);
        a.Label(ref asked);
    }

    /// <summary>
    /// Asks for every line of the row data <see cref="RowDataAhead"/> rows ahead (unless <see cref="Prefetch.Enabled"/>
    /// is off). That data is a second, thin stream beside the weights, a few lines a row, which the hardware prefetchers
    /// left to miss: in a profile of int4 decoding, the loads of the group scales and mins were the kernel's costliest
    /// stalls after the weights' own (docs/benchmarks.md). Anywhere from 2 to 32 rows ahead measured the same.
    /// </summary>
    private void EmitRowDataPrefetch(Assembler a)
    {
        if (!Prefetch.Enabled) return;
        for (var line = 0; line < RowDataBytes; line += 64) a.prefetcht0(__[r9 + RowDataAhead * RowDataBytes + line]);
    }

    private static readonly AssemblerRegisterZMM[] Zmm =
    [
        zmm0, zmm1, zmm2, zmm3, zmm4, zmm5, zmm6, zmm7, zmm8, zmm9, zmm10, zmm11, zmm12, zmm13, zmm14, zmm15,
        zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm24, zmm25, zmm26, zmm27, zmm28, zmm29, zmm30, zmm31,
    ];

    private static readonly AssemblerRegisterYMM[] Ymm =
    [
        ymm0, ymm1, ymm2, ymm3, ymm4, ymm5, ymm6, ymm7, ymm8, ymm9, ymm10, ymm11, ymm12, ymm13, ymm14, ymm15,
        ymm16, ymm17, ymm18, ymm19, ymm20, ymm21, ymm22, ymm23, ymm24, ymm25, ymm26, ymm27, ymm28, ymm29, ymm30, ymm31,
    ];

    private static readonly AssemblerRegisterXMM[] Xmm =
    [
        xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14, xmm15,
        xmm16, xmm17, xmm18, xmm19, xmm20, xmm21, xmm22, xmm23, xmm24, xmm25, xmm26, xmm27, xmm28, xmm29, xmm30, xmm31,
    ];
}
