using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LayerSkip.Engine.Model.Kernels.Emitted;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// Weight-only int4, group-wise asymmetric: within each group of <see cref="GroupSize"/> input columns of a row,
/// W ≈ scale · q + min with q in [0, 15] (min is the group's zero point, -scale · zero). Two values per byte: in every
/// 64-column chunk, byte j holds column j in its low nibble and column j + 32 in its high nibble, so one 32-byte load
/// unpacks with a mask and a shift into two 32-byte vectors in column order. The unsigned nibbles are the u8 side of
/// AVX-VNNI's dot product with the int8-quantized activation; the mins multiply the activation's group sums. Groups
/// are a power of two wide: a chunk lies in one group, or (groups of 32) each of its two halves is one group. Where the
/// assembled kernels run and rows are whole superblocks of 1024 columns, the rows are packed in superblocks instead
/// (<see cref="Int4SuperblockProgram"/>), which that kernel streams faster.
/// </summary>
internal sealed unsafe partial class Int4MatVec : IMatVec
{
    private const int Chunk = QuantizedActivation.Block; // 64 columns, 32 bytes
    private readonly byte* _q;        // [out, padded / 2]
    private readonly float[] _rowData; // [out, 2 · groups]: a row's group scales, then its group mins, read with the row
    private readonly int _padded, _groups;
    private readonly bool _superblocks; // rows packed as Int4SuperblockProgram reads them, not in 64-column chunks

    public int OutFeatures { get; }
    public int InFeatures { get; }
    public int GroupSize { get; }
    public long Bytes => (long)OutFeatures * _padded / 2 + _rowData.Length * 4L;

    /// <summary>Whether the rows are packed in superblocks (<see cref="Int4SuperblockProgram"/>).</summary>
    internal bool InSuperblocks => _superblocks;

    private Int4MatVec(int outFeatures, int inFeatures, int groupSize)
    {
        if (!WeightQuantization.IsValidGroupSize(groupSize))
            throw new ArgumentException($"The int4 group size must be a power of two from 32 (32, 64, 128, ...), not {groupSize}.", nameof(groupSize));
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        GroupSize = groupSize;
        var span = Math.Max(groupSize, Chunk); // whole chunks and whole groups
        _padded = (inFeatures + span - 1) / span * span;
        _groups = _padded / groupSize;
        _q = (byte*)HugePages.Allocate((long)outFeatures * _padded / 2);
        _rowData = new float[2L * outFeatures * _groups];
        _superblocks = KernelIsa.Int8Dot && !KernelIsa.ChunkedInt4 && Int4SuperblockProgram.Fits(_padded, groupSize);
        if (_superblocks) RowDotKernel.Int4Superblocks(_padded, groupSize, 1); // assembled with the load
        else if (KernelIsa.Int8Dot && Int4DotProgram.Supports(groupSize)) RowDotKernel.Int4(_padded, groupSize, 1);
    }

    /// <summary>
    /// Quantizes a float32 row-major matrix [out, in] and returns its dequantized values in place.
    /// <paramref name="columnImportance"/> (length in, or null) weighs each input column's squared error in the fit.
    /// </summary>
    public static Int4MatVec Quantize(float* w, int outFeatures, int inFeatures, int groupSize, float* columnImportance = null)
    {
        var m = new Int4MatVec(outFeatures, inFeatures, groupSize);
        Parallel.For(0, outFeatures, n =>
        {
            var row = w + (long)n * inFeatures;
            var q = stackalloc byte[m._padded];
            for (var g = 0; g < m._groups; g++)
            {
                var start = g * groupSize;
                var end = Math.Min(inFeatures, start + groupSize);
                var importance = columnImportance == null ? null : columnImportance + start;
                var (scale, min) = GroupFit.Fit(row + start, importance, Math.Max(0, end - start), q + start);
                for (var k = start; k < start + groupSize; k++)
                    if (k >= end) q[k] = 0; // padding: its activation is zero
                    else row[k] = q[k] * scale + min;
                m.Scale(n, g) = scale;
                m.Min(n, g) = min;
            }
            m.Pack(n, q);
        });
        return m;
    }

    /// <summary>Stores row <paramref name="n"/>'s codes <paramref name="q"/> (one per padded column, padding 0), two per byte.</summary>
    private void Pack(int n, byte* q)
    {
        var packed = _q + (long)n * _padded / 2;
        if (_superblocks)
        {
            for (var k = 0; k < _padded; k++)
                if (k % Chunk < 32) packed[Int4SuperblockProgram.Place(k).Byte] = (byte)(q[k] | (q[k + 32] << 4));
            return;
        }
        for (var c = 0; c < _padded; c += Chunk)
            for (var j = 0; j < 32; j++)
                packed[c / 2 + j] = (byte)(q[c + j] | (q[c + 32 + j] << 4));
    }

    /// <summary>Row <paramref name="n"/>, column <paramref name="k"/> as stored: its group's scale and min and its 4-bit code.</summary>
    internal (float Scale, float Min, int Code) Entry(int n, int k)
    {
        if (_superblocks)
        {
            var (at, high) = Int4SuperblockProgram.Place(k);
            var code = _q[(long)n * _padded / 2 + at];
            return (Scale(n, k / GroupSize), Min(n, k / GroupSize), high ? code >> 4 : code & 0x0F);
        }
        var chunk = k / Chunk * Chunk;
        var j = k - chunk;
        var packed = _q[(long)n * _padded / 2 + chunk / 2 + j % 32];
        return (Scale(n, k / GroupSize), Min(n, k / GroupSize), j < 32 ? packed & 0x0F : packed >> 4);
    }

    /// <summary>Row <paramref name="n"/>'s scale of group <paramref name="g"/>.</summary>
    private ref float Scale(int n, int g) => ref _rowData[2L * n * _groups + g];

    /// <summary>Row <paramref name="n"/>'s min of group <paramref name="g"/>.</summary>
    private ref float Min(int n, int g) => ref _rowData[2L * n * _groups + _groups + g];

    public void Multiply(float* x, int rows, float* y, int rowStart, int rowCount, RowParallel threads)
    {
        var act = new QuantizedActivation(x, rows, InFeatures, _padded);
        var blocks = _padded / Chunk;
        var halves = GroupSize < Chunk; // groups of 32: each half of a chunk has its own scale and min
        var shift = halves ? 0 : System.Numerics.BitOperations.Log2((uint)(GroupSize / Chunk)); // blocks per group: 2^shift
        // Σ over a group of the dequantized activation, per row: what the group's min multiplies.
        var groupSums = new float[rows * _groups];
        for (var r = 0; r < rows; r++)
            for (var b = 0; b < blocks; b++)
                if (halves)
                {
                    groupSums[r * _groups + 2 * b] = act.HalfBlockSums[2 * (r * blocks + b)];
                    groupSums[r * _groups + 2 * b + 1] = act.HalfBlockSums[2 * (r * blocks + b) + 1];
                }
                else groupSums[r * _groups + (b >> shift)] += act.BlockSums[r * blocks + b];
        if (KernelIsa.Int8Dot && Int4DotProgram.Supports(GroupSize))
        {
            MultiplyAssembled(act, rows, groupSums, y, rowStart, rowCount, threads);
            return;
        }
        fixed (sbyte* xq = act.Values)
        fixed (float* xs = act.Scales)
        fixed (float* gs = groupSums)
        fixed (float* rowData = _rowData)
        {
            var xqp = xq; var xsp = xs; var gsp = gs; var rd = rowData;
            threads.For(rowCount, 16, (s, e) =>
            {
                for (var j = s; j < e; j++)
                {
                    var n = rowStart + j;
                    var w = _q + (long)n * _padded / 2;
                    var scales = rd + 2L * n * _groups;
                    var mins = new FloatMemory(scales + _groups, false);
                    for (var r = 0; r < rows; r++)
                    {
                        var xr = xqp + (long)r * _padded;
                        var dot = _superblocks ? DotSuperblocks(n, xr, xsp + (long)r * blocks)
                            : halves ? DotHalves(w, xr, xsp + (long)r * blocks, scales, blocks) : Dot(w, xr, xsp + (long)r * blocks, scales, blocks, shift);
                        y[(long)r * rowCount + j] = dot + VectorMath.Dot(gsp + (long)r * _groups, mins, _groups);
                    }
                }
            });
        }
    }

    /// <summary>The same product through AVX-512 VNNI (<see cref="Int4DotProgram"/>, groups of 128 and more).</summary>
    private void MultiplyAssembled(QuantizedActivation act, int rows, float[] groupSums, float* y, int rowStart, int rowCount, RowParallel threads)
    {
        var blocks = _padded / Chunk;
        var record = _superblocks ? Int4SuperblockProgram.Record(_padded, _groups) : Int4DotProgram.Record(_padded, _groups);
        var x = AlignedActivations.Rows(ref _activations, (long)rows * record);
        delegate*<sbyte*, float*, float*, int, int, byte*, void> layout = _superblocks ? &Int4SuperblockProgram.Layout : &Int4DotProgram.Layout;
        fixed (sbyte* values = act.Values)
        fixed (float* xScales = act.Scales)
        fixed (float* gs = groupSums)
            for (var r = 0; r < rows; r++)
                layout(values + (long)r * _padded, xScales + (long)r * blocks, gs + (long)r * _groups, _padded, _groups, x + (long)r * record);
        var groups = new RowGroups(rows, _padded / 2, record, GroupMins.RowDataBytes(_groups),
            n => _superblocks ? RowDotKernel.Int4Superblocks(_padded, GroupSize, n) : RowDotKernel.Int4(_padded, GroupSize, n));
        fixed (float* rowData = _rowData)
        {
            var rd = (byte*)(rowData + 2L * rowStart * _groups);
            threads.For(rowCount, 16, (s, e) => groups.Run(_q + (long)rowStart * _padded / 2, s, e, x, y, rowCount, rd));
        }
    }

    /// <summary>The int8 activation records of the product running on this thread (the workers only read them during the call).</summary>
    [ThreadStatic] private static byte[]? _activations;

    /// <summary>Σ_b xScale_b · scale_{g(b)} · Σ_{k in b} q_w · q_x over 64-column blocks b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(byte* w, sbyte* x, float* xScales, float* scales, int blocks, int shift)
    {
        var b = 0;
        var sum = 0f;
        if (KernelIsa.Vnni)
        {
            var low = Vector256.Create((byte)0x0F);
            Vector256<float> total0 = default, total1 = default;
            for (; b + 2 <= blocks; b += 2)
            {
                var p0 = Vector256.Load(w + b * (Chunk / 2));
                var p1 = Vector256.Load(w + b * (Chunk / 2) + 32);
                var d0 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, p0 & low, Vector256.Load(x + b * Chunk));
                var d1 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, p1 & low, Vector256.Load(x + b * Chunk + 64));
                d0 = AvxVnni.MultiplyWideningAndAdd(d0, Vector256.ShiftRightLogical(p0.AsUInt16(), 4).AsByte() & low, Vector256.Load(x + b * Chunk + 32));
                d1 = AvxVnni.MultiplyWideningAndAdd(d1, Vector256.ShiftRightLogical(p1.AsUInt16(), 4).AsByte() & low, Vector256.Load(x + b * Chunk + 96));
                total0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(d0), Vector256.Create(xScales[b] * scales[b >> shift]), total0);
                total1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(d1), Vector256.Create(xScales[b + 1] * scales[(b + 1) >> shift]), total1);
            }
            sum = Vector256.Sum(total0 + total1);
        }
        for (; b < blocks; b++)
        {
            var d = 0;
            for (var j = 0; j < 32; j++)
            {
                var packed = w[b * (Chunk / 2) + j];
                d += (packed & 0x0F) * x[b * Chunk + j] + (packed >> 4) * x[b * Chunk + 32 + j];
            }
            sum += xScales[b] * scales[b >> shift] * d;
        }
        return sum;
    }

    /// <summary>
    /// <see cref="Dot(byte*, sbyte*, float*, float*, int, int)"/> for rows packed in superblocks, where the assembled
    /// kernel is not to be used (the managed and scalar paths tests ask for): column by column.
    /// </summary>
    private float DotSuperblocks(int n, sbyte* x, float* xScales)
    {
        var sum = 0f;
        for (var b = 0; b < _padded / Chunk; b++)
        {
            var d = 0;
            for (var k = b * Chunk; k < (b + 1) * Chunk; k++) d += Entry(n, k).Code * x[k];
            sum += xScales[b] * Scale(n, b * Chunk / GroupSize) * d;
        }
        return sum;
    }

    /// <summary>
    /// <see cref="Dot(byte*, sbyte*, float*, float*, int, int)"/> for groups of 32: the low and high nibbles of a chunk
    /// (its two halves) are summed apart, each scaled by its own group's scale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotHalves(byte* w, sbyte* x, float* xScales, float* scales, int blocks)
    {
        var b = 0;
        var sum = 0f;
        if (KernelIsa.Vnni)
        {
            var low = Vector256.Create((byte)0x0F);
            Vector256<float> total0 = default, total1 = default;
            for (; b < blocks; b++)
            {
                var p = Vector256.Load(w + b * (Chunk / 2));
                var dl = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, p & low, Vector256.Load(x + b * Chunk));
                var dh = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.ShiftRightLogical(p.AsUInt16(), 4).AsByte() & low, Vector256.Load(x + b * Chunk + 32));
                total0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(dl), Vector256.Create(xScales[b] * scales[2 * b]), total0);
                total1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(dh), Vector256.Create(xScales[b] * scales[2 * b + 1]), total1);
            }
            sum = Vector256.Sum(total0 + total1);
        }
        for (; b < blocks; b++)
        {
            int dl = 0, dh = 0;
            for (var j = 0; j < 32; j++)
            {
                var packed = w[b * (Chunk / 2) + j];
                dl += (packed & 0x0F) * x[b * Chunk + j];
                dh += (packed >> 4) * x[b * Chunk + 32 + j];
            }
            sum += xScales[b] * scales[2 * b] * dl + xScales[b] * scales[2 * b + 1] * dh;
        }
        return sum;
    }

    private int _disposed;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) HugePages.Free(_q, (long)OutFeatures * _padded / 2);
    }
}
