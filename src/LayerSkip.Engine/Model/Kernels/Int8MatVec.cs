using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LayerSkip.Engine.Model.Kernels.Emitted;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// Weight-only int8: symmetric, one float scale per output channel, W[n, k] ≈ scale[n] · q[n, k] with q in [-127, 127].
/// Stored as q + 128 (unsigned) so that AVX-VNNI's u8 × s8 dot product takes the weights as its unsigned side and the
/// int8-quantized activation as the signed side; the offset's contribution, 128 · Σ x, depends on the activation only
/// and is subtracted once per row.
/// </summary>
internal sealed unsafe partial class Int8MatVec : IMatVec
{
    private readonly byte* _q;       // [out, padded in], q + 128
    private readonly float[] _scales;
    private readonly int _padded;

    public int OutFeatures { get; }
    public int InFeatures { get; }
    public long Bytes => (long)OutFeatures * _padded + _scales.Length * 4L;

    private Int8MatVec(int outFeatures, int inFeatures)
    {
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        _padded = (inFeatures + QuantizedActivation.Block - 1) / QuantizedActivation.Block * QuantizedActivation.Block;
        _q = (byte*)HugePages.Allocate((long)outFeatures * _padded);
        _scales = new float[outFeatures];
        if (KernelIsa.Int8Dot) RowDotKernel.Int8(_padded, 1); // assembled with the model's load, not in the first token
    }

    /// <summary>Quantizes a float32 row-major matrix [out, in] and returns its dequantized values in place.</summary>
    public static Int8MatVec Quantize(float* w, int outFeatures, int inFeatures)
    {
        var m = new Int8MatVec(outFeatures, inFeatures);
        Parallel.For(0, outFeatures, n =>
        {
            var row = w + (long)n * inFeatures;
            var amax = 0f;
            for (var k = 0; k < inFeatures; k++) amax = Math.Max(amax, Math.Abs(row[k]));
            var scale = amax / 127f;
            var inv = amax == 0 ? 0f : 127f / amax;
            var q = m._q + (long)n * m._padded;
            for (var k = 0; k < m._padded; k++)
            {
                var v = k < inFeatures ? (int)Math.Clamp(MathF.Round(row[k] * inv), -127, 127) : 0;
                q[k] = (byte)(v + 128);
                if (k < inFeatures) row[k] = v * scale;
            }
            m._scales[n] = scale;
        });
        return m;
    }

    public void Multiply(float* x, int rows, float* y, int rowStart, int rowCount, RowParallel threads)
    {
        var act = new QuantizedActivation(x, rows, InFeatures, _padded);
        var blocks = _padded / QuantizedActivation.Block;
        var offsets = new float[rows];
        for (var r = 0; r < rows; r++)
        {
            var s = 0f;
            for (var b = 0; b < blocks; b++) s += act.BlockSums[r * blocks + b];
            offsets[r] = 128f * s;
        }
        if (KernelIsa.Int8Dot)
        {
            MultiplyAssembled(act, rows, offsets, y, rowStart, rowCount, threads);
            return;
        }
        fixed (sbyte* xq = act.Values)
        fixed (float* xs = act.Scales)
        {
            var xqp = xq; var xsp = xs;
            threads.For(rowCount, 16, (s, e) =>
            {
                for (var j = s; j < e; j++)
                {
                    var n = rowStart + j;
                    var w = _q + (long)n * _padded;
                    for (var r = 0; r < rows; r++)
                        y[(long)r * rowCount + j] = _scales[n] * (Dot(w, xqp + (long)r * _padded, xsp + (long)r * blocks, blocks) - offsets[r]);
                }
            });
        }
    }

    /// <summary>
    /// The same product through AVX-512 VNNI on whole 64-byte blocks (<see cref="Int8DotProgram"/>), then the weight
    /// scale and the offset applied to each output while it is still in the cache.
    /// </summary>
    private void MultiplyAssembled(QuantizedActivation act, int rows, float[] offsets, float* y, int rowStart, int rowCount, RowParallel threads)
    {
        var blocks = _padded / QuantizedActivation.Block;
        var record = Int8DotProgram.Record(_padded);
        var x = AlignedActivations.Rows(ref _activations, (long)rows * record);
        for (var r = 0; r < rows; r++)
        {
            new ReadOnlySpan<sbyte>(act.Values, r * _padded, _padded).CopyTo(new Span<sbyte>(x + (long)r * record, _padded));
            new ReadOnlySpan<float>(act.Scales, r * blocks, blocks).CopyTo(new Span<float>((float*)(x + (long)r * record + _padded), blocks));
        }
        var groups = new RowGroups(rows, _padded, record, 0, n => RowDotKernel.Int8(_padded, n));
        threads.For(rowCount, 16, (s, e) =>
        {
            groups.Run(_q + (long)rowStart * _padded, s, e, x, y, rowCount);
            for (var r = 0; r < rows; r++)
            {
                var yr = y + (long)r * rowCount;
                for (var j = s; j < e; j++) yr[j] = _scales[rowStart + j] * (yr[j] - offsets[r]);
            }
        });
    }

    /// <summary>The int8 activation rows of the product running on this thread (the workers only read them during the call).</summary>
    [ThreadStatic] private static byte[]? _activations;

    /// <summary>Σ_b scale_b · Σ_{k in b} (q_w + 128) · q_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(byte* w, sbyte* x, float* xScales, int blocks)
    {
        var b = 0;
        var sum = 0f;
        if (KernelIsa.Vnni)
        {
            // Two blocks per step into independent accumulators, so consecutive FMAs do not wait on each other.
            Vector256<float> total0 = default, total1 = default;
            for (; b + 2 <= blocks; b += 2)
            {
                var o = b * QuantizedActivation.Block;
                var d0 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(w + o), Vector256.Load(x + o));
                var d1 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(w + o + 64), Vector256.Load(x + o + 64));
                d0 = AvxVnni.MultiplyWideningAndAdd(d0, Vector256.Load(w + o + 32), Vector256.Load(x + o + 32));
                d1 = AvxVnni.MultiplyWideningAndAdd(d1, Vector256.Load(w + o + 96), Vector256.Load(x + o + 96));
                total0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(d0), Vector256.Create(xScales[b]), total0);
                total1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(d1), Vector256.Create(xScales[b + 1]), total1);
            }
            sum = Vector256.Sum(total0 + total1);
        }
        for (; b < blocks; b++)
        {
            var o = b * QuantizedActivation.Block;
            var d = 0;
            for (var i = 0; i < QuantizedActivation.Block; i++) d += w[o + i] * x[o + i];
            sum += xScales[b] * d;
        }
        return sum;
    }

    private int _disposed;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) HugePages.Free(_q, (long)OutFeatures * _padded);
    }
}
