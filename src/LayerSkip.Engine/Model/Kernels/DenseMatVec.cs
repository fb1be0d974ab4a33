using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LayerSkip.Engine.Model.Kernels.Emitted;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// Products over a bfloat16 or float32 weight tensor read in place (row-major [out, in], no copy). bfloat16 goes
/// through AVX-512 BF16's dot product where the CPU has it (<see cref="RowDotKernel.Bf16"/>: activations rounded to bfloat16,
/// as a bfloat16 model computes them, products summed in float32); elsewhere it widens to float32 with one shift or mask
/// per element pair (a 32-bit lane holds two neighbours, the even one in its low half) against float32 activations.
/// </summary>
internal sealed unsafe class DenseMatVec : IMatVec
{
    private readonly Tensor _weight; // kept alive: we read its memory
    private readonly void* _data;
    private readonly bool _bf16;

    public int OutFeatures { get; }
    public int InFeatures { get; }
    public long Bytes => (long)OutFeatures * InFeatures * (_bf16 ? 2 : 4);

    public DenseMatVec(Tensor weight)
    {
        if (weight.dim() != 2) throw new ArgumentException("A weight matrix must be 2-D.", nameof(weight));
        _bf16 = weight.dtype switch
        {
            ScalarType.BFloat16 => true,
            ScalarType.Float32 => false,
            _ => throw new ArgumentException($"No kernel for {weight.dtype} weights.", nameof(weight)),
        };
        _weight = weight;
        _data = (void*)TensorMemory.Pointer(weight);
        OutFeatures = (int)weight.shape[0];
        InFeatures = (int)weight.shape[1];
        // Assembled now, with the model's load: the first use of the assembler costs tens of milliseconds, which would
        // otherwise fall into the first request's first token.
        if (_bf16 && KernelIsa.Bf16Dot) RowDotKernel.Bf16(InFeatures, 1);
    }

    public static bool Supports(Tensor weight) =>
        weight.device_type == DeviceType.CPU && weight.dim() == 2 && weight.is_contiguous() &&
        weight.dtype is ScalarType.BFloat16 or ScalarType.Float32;

    public void Multiply(float* x, int rows, float* y, int rowStart, int rowCount, RowParallel threads)
    {
        var k = InFeatures;
        var simd = KernelIsa.Vector512; // decided once: the split layout and the dot must agree
        if (!_bf16)
        {
            threads.For(rowCount, 16, (s, e) =>
            {
                for (var j = s; j < e; j++)
                {
                    var w = (float*)_data + (long)(rowStart + j) * k;
                    for (var r = 0; r < rows; r++) y[(long)r * rowCount + j] = DotF32(w, x + (long)r * k, k, simd);
                }
            });
            return;
        }
        if (KernelIsa.Bf16Dot)
        {
            MultiplyBf16Dot(x, rows, y, rowStart, rowCount, threads);
            return;
        }
        // Split each activation row into the even and odd elements of every 32-block, matching the weight lanes.
        if (_split is null || _split.Length < rows * k) _split = new float[Math.Max(rows * k, 2 * (_split?.Length ?? 0))];
        fixed (float* xs = _split)
        {
            var xsp = xs;
            for (var r = 0; r < rows; r++) Deinterleave(x + (long)r * k, xsp + (long)r * k, k, simd);
            threads.For(rowCount, 16, (s, e) =>
            {
                for (var j = s; j < e;)
                {
                    var w = (ushort*)_data + (long)(rowStart + j) * k;
                    var r = 0;
                    if (simd && rows >= 2 && j + 1 < e)
                    {
                        // Two weight rows by two activation rows: every vector loaded serves two products.
                        for (; r + 2 <= rows; r += 2)
                            DotBf16TwoByTwo(w, w + k, xsp + (long)r * k, k, y + (long)r * rowCount + j, rowCount);
                        for (; r < rows; r++)
                            for (var t = 0; t < 2; t++)
                                y[(long)r * rowCount + j + t] = DotBf16(w + t * k, xsp + (long)r * k, x + (long)r * k, k, simd);
                        j += 2;
                        continue;
                    }
                    if (simd)
                        for (; r + 4 <= rows; r += 4)
                            DotBf16Four(w, xsp + (long)r * k, k, y + (long)r * rowCount + j, rowCount);
                    for (; r < rows; r++) y[(long)r * rowCount + j] = DotBf16(w, xsp + (long)r * k, x + (long)r * k, k, simd);
                    j++;
                }
            });
        }
    }

    /// <summary>The bfloat16 activation rows, rounded once per product, against the assembled kernel (in groups past seven rows).</summary>
    private void MultiplyBf16Dot(float* x, int rows, float* y, int rowStart, int rowCount, RowParallel threads)
    {
        var k = InFeatures;
        var stride = Bf16DotProgram.ActivationStride(k);
        var xb = (ushort*)AlignedActivations.Rows(ref _bf16Activations, 2L * rows * stride);
        for (var r = 0; r < rows; r++) Dequantization.ToBfloat16(x + (long)r * k, xb + (long)r * stride, k);
        var groups = new RowGroups(rows, 2L * k, 2L * stride, 0, n => RowDotKernel.Bf16(k, n));
        threads.For(rowCount, 16, (s, e) => groups.Run((byte*)((ushort*)_data + (long)rowStart * k), s, e, (byte*)xb, y, rowCount));
    }

    /// <summary>The bfloat16 activation rows of the product running on this thread (the workers only read them during the call).</summary>
    [ThreadStatic] private static byte[]? _bf16Activations;

    private const int Block = 32;

    /// <summary>The split activation rows of the product running on this thread (the workers only read it during the call).</summary>
    [ThreadStatic] private static float[]? _split;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Deinterleave(float* x, float* into, int k, bool simd)
    {
        var full = simd ? k / Block * Block : 0;
        for (var b = 0; b < full; b += Block)
            for (var j = 0; j < Block / 2; j++)
            {
                into[b + j] = x[b + 2 * j];
                into[b + Block / 2 + j] = x[b + 2 * j + 1];
            }
        for (var i = full; i < k; i++) into[i] = x[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotBf16(ushort* w, float* xSplit, float* x, int k, bool simd)
    {
        var sum = 0f;
        var i = 0;
        if (simd)
        {
            var prefetch = Prefetch.Enabled;
            // Four independent accumulators keep the FMA latency off the critical path.
            Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            var high = Vector512.Create(0xFFFF0000u);
            for (; i + 2 * Block <= k; i += 2 * Block)
            {
                if (prefetch) Prefetch.TwoLines(w + i);
                var p0 = Vector512.Load((uint*)(w + i));
                var p1 = Vector512.Load((uint*)(w + i + Block));
                acc0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(p0, 16).AsSingle(), Vector512.Load(xSplit + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd((p0 & high).AsSingle(), Vector512.Load(xSplit + i + Block / 2), acc1);
                acc2 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(p1, 16).AsSingle(), Vector512.Load(xSplit + i + Block), acc2);
                acc3 = Vector512.FusedMultiplyAdd((p1 & high).AsSingle(), Vector512.Load(xSplit + i + Block + Block / 2), acc3);
            }
            for (; i + Block <= k; i += Block)
            {
                var p0 = Vector512.Load((uint*)(w + i));
                acc0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(p0, 16).AsSingle(), Vector512.Load(xSplit + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd((p0 & high).AsSingle(), Vector512.Load(xSplit + i + Block / 2), acc1);
            }
            sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
        }
        for (; i < k; i++) sum += BitConverter.Int32BitsToSingle(w[i] << 16) * x[i];
        return sum;
    }

    /// <summary>
    /// One weight row against four activation rows (at <paramref name="xSplit"/>, k apart): each weight vector is
    /// loaded and widened once for all four. Each row accumulates in exactly <see cref="DotBf16"/>'s order, so its
    /// result does not depend on how many rows share the call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotBf16Four(ushort* w, float* xSplit, int k, float* y, int yStride)
    {
        var prefetch = Prefetch.Enabled;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default;
        var high = Vector512.Create(0xFFFF0000u);
        float* xa = xSplit, xb = xSplit + k, xc = xSplit + 2L * k, xd = xSplit + 3L * k;
        var i = 0;
        for (; i + 2 * Block <= k; i += 2 * Block)
        {
            if (prefetch) Prefetch.TwoLines(w + i);
            var p0 = Vector512.Load((uint*)(w + i));
            var p1 = Vector512.Load((uint*)(w + i + Block));
            var e0 = Vector512.ShiftLeft(p0, 16).AsSingle();
            var o0 = (p0 & high).AsSingle();
            var e1 = Vector512.ShiftLeft(p1, 16).AsSingle();
            var o1 = (p1 & high).AsSingle();
            int h = i + Block / 2, m = i + Block, n = i + Block + Block / 2;
            a0 = Vector512.FusedMultiplyAdd(e0, Vector512.Load(xa + i), a0); a1 = Vector512.FusedMultiplyAdd(o0, Vector512.Load(xa + h), a1);
            a2 = Vector512.FusedMultiplyAdd(e1, Vector512.Load(xa + m), a2); a3 = Vector512.FusedMultiplyAdd(o1, Vector512.Load(xa + n), a3);
            b0 = Vector512.FusedMultiplyAdd(e0, Vector512.Load(xb + i), b0); b1 = Vector512.FusedMultiplyAdd(o0, Vector512.Load(xb + h), b1);
            b2 = Vector512.FusedMultiplyAdd(e1, Vector512.Load(xb + m), b2); b3 = Vector512.FusedMultiplyAdd(o1, Vector512.Load(xb + n), b3);
            c0 = Vector512.FusedMultiplyAdd(e0, Vector512.Load(xc + i), c0); c1 = Vector512.FusedMultiplyAdd(o0, Vector512.Load(xc + h), c1);
            c2 = Vector512.FusedMultiplyAdd(e1, Vector512.Load(xc + m), c2); c3 = Vector512.FusedMultiplyAdd(o1, Vector512.Load(xc + n), c3);
            d0 = Vector512.FusedMultiplyAdd(e0, Vector512.Load(xd + i), d0); d1 = Vector512.FusedMultiplyAdd(o0, Vector512.Load(xd + h), d1);
            d2 = Vector512.FusedMultiplyAdd(e1, Vector512.Load(xd + m), d2); d3 = Vector512.FusedMultiplyAdd(o1, Vector512.Load(xd + n), d3);
        }
        for (; i + Block <= k; i += Block)
        {
            var p0 = Vector512.Load((uint*)(w + i));
            var e0 = Vector512.ShiftLeft(p0, 16).AsSingle();
            var o0 = (p0 & high).AsSingle();
            var h = i + Block / 2;
            a0 = Vector512.FusedMultiplyAdd(e0, Vector512.Load(xa + i), a0); a1 = Vector512.FusedMultiplyAdd(o0, Vector512.Load(xa + h), a1);
            b0 = Vector512.FusedMultiplyAdd(e0, Vector512.Load(xb + i), b0); b1 = Vector512.FusedMultiplyAdd(o0, Vector512.Load(xb + h), b1);
            c0 = Vector512.FusedMultiplyAdd(e0, Vector512.Load(xc + i), c0); c1 = Vector512.FusedMultiplyAdd(o0, Vector512.Load(xc + h), c1);
            d0 = Vector512.FusedMultiplyAdd(e0, Vector512.Load(xd + i), d0); d1 = Vector512.FusedMultiplyAdd(o0, Vector512.Load(xd + h), d1);
        }
        float sa = Vector512.Sum((a0 + a1) + (a2 + a3)), sb = Vector512.Sum((b0 + b1) + (b2 + b3));
        float sc = Vector512.Sum((c0 + c1) + (c2 + c3)), sd = Vector512.Sum((d0 + d1) + (d2 + d3));
        for (; i < k; i++) // the tail is not split: xSplit holds it as it was
        {
            var v = BitConverter.Int32BitsToSingle(w[i] << 16);
            sa += v * xa[i]; sb += v * xb[i]; sc += v * xc[i]; sd += v * xd[i];
        }
        y[0] = sa; y[yStride] = sb; y[2L * yStride] = sc; y[3L * yStride] = sd;
    }

    /// <summary>
    /// Weight rows <paramref name="w0"/> and <paramref name="w1"/> against two activation rows (at
    /// <paramref name="xSplit"/>, k apart), into y[0], y[1] for the first and y[yStride], y[yStride + 1] for the second:
    /// each weight and activation vector loaded serves two products, and each product sums in exactly
    /// <see cref="DotBf16"/>'s order. Speculative verification and small batches run through it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotBf16TwoByTwo(ushort* w0, ushort* w1, float* xSplit, int k, float* y, int yStride)
    {
        var prefetch = Prefetch.Enabled;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default; // w0 · x0
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default; // w0 · x1
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default; // w1 · x0
        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default; // w1 · x1
        var high = Vector512.Create(0xFFFF0000u);
        float* x0 = xSplit, x1 = xSplit + k;
        var i = 0;
        for (; i + 2 * Block <= k; i += 2 * Block)
        {
            if (prefetch) { Prefetch.TwoLines(w0 + i); Prefetch.TwoLines(w1 + i); }
            int h = i + Block / 2, m = i + Block, n = i + Block + Block / 2;
            var p = Vector512.Load((uint*)(w0 + i));
            var q = Vector512.Load((uint*)(w1 + i));
            Vector512<float> pe = Vector512.ShiftLeft(p, 16).AsSingle(), po = (p & high).AsSingle();
            Vector512<float> qe = Vector512.ShiftLeft(q, 16).AsSingle(), qo = (q & high).AsSingle();
            Vector512<float> u = Vector512.Load(x0 + i), v = Vector512.Load(x1 + i);
            a0 = Vector512.FusedMultiplyAdd(pe, u, a0); b0 = Vector512.FusedMultiplyAdd(pe, v, b0);
            c0 = Vector512.FusedMultiplyAdd(qe, u, c0); d0 = Vector512.FusedMultiplyAdd(qe, v, d0);
            u = Vector512.Load(x0 + h); v = Vector512.Load(x1 + h);
            a1 = Vector512.FusedMultiplyAdd(po, u, a1); b1 = Vector512.FusedMultiplyAdd(po, v, b1);
            c1 = Vector512.FusedMultiplyAdd(qo, u, c1); d1 = Vector512.FusedMultiplyAdd(qo, v, d1);
            p = Vector512.Load((uint*)(w0 + m));
            q = Vector512.Load((uint*)(w1 + m));
            pe = Vector512.ShiftLeft(p, 16).AsSingle(); po = (p & high).AsSingle();
            qe = Vector512.ShiftLeft(q, 16).AsSingle(); qo = (q & high).AsSingle();
            u = Vector512.Load(x0 + m); v = Vector512.Load(x1 + m);
            a2 = Vector512.FusedMultiplyAdd(pe, u, a2); b2 = Vector512.FusedMultiplyAdd(pe, v, b2);
            c2 = Vector512.FusedMultiplyAdd(qe, u, c2); d2 = Vector512.FusedMultiplyAdd(qe, v, d2);
            u = Vector512.Load(x0 + n); v = Vector512.Load(x1 + n);
            a3 = Vector512.FusedMultiplyAdd(po, u, a3); b3 = Vector512.FusedMultiplyAdd(po, v, b3);
            c3 = Vector512.FusedMultiplyAdd(qo, u, c3); d3 = Vector512.FusedMultiplyAdd(qo, v, d3);
        }
        for (; i + Block <= k; i += Block)
        {
            var h = i + Block / 2;
            var p = Vector512.Load((uint*)(w0 + i));
            var q = Vector512.Load((uint*)(w1 + i));
            Vector512<float> pe = Vector512.ShiftLeft(p, 16).AsSingle(), po = (p & high).AsSingle();
            Vector512<float> qe = Vector512.ShiftLeft(q, 16).AsSingle(), qo = (q & high).AsSingle();
            Vector512<float> u = Vector512.Load(x0 + i), v = Vector512.Load(x1 + i);
            a0 = Vector512.FusedMultiplyAdd(pe, u, a0); b0 = Vector512.FusedMultiplyAdd(pe, v, b0);
            c0 = Vector512.FusedMultiplyAdd(qe, u, c0); d0 = Vector512.FusedMultiplyAdd(qe, v, d0);
            u = Vector512.Load(x0 + h); v = Vector512.Load(x1 + h);
            a1 = Vector512.FusedMultiplyAdd(po, u, a1); b1 = Vector512.FusedMultiplyAdd(po, v, b1);
            c1 = Vector512.FusedMultiplyAdd(qo, u, c1); d1 = Vector512.FusedMultiplyAdd(qo, v, d1);
        }
        float sa = Vector512.Sum((a0 + a1) + (a2 + a3)), sb = Vector512.Sum((b0 + b1) + (b2 + b3));
        float sc = Vector512.Sum((c0 + c1) + (c2 + c3)), sd = Vector512.Sum((d0 + d1) + (d2 + d3));
        for (; i < k; i++) // the tail is not split: xSplit holds it as it was
        {
            float wp = BitConverter.Int32BitsToSingle(w0[i] << 16), wq = BitConverter.Int32BitsToSingle(w1[i] << 16);
            sa += wp * x0[i]; sb += wp * x1[i]; sc += wq * x0[i]; sd += wq * x1[i];
        }
        y[0] = sa; y[yStride] = sb; y[1] = sc; y[yStride + 1] = sd;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotF32(float* w, float* x, int k, bool simd)
    {
        var sum = 0f;
        var i = 0;
        if (simd)
        {
            var prefetch = Prefetch.Enabled;
            Vector512<float> acc0 = default, acc1 = default;
            for (; i + 32 <= k; i += 32)
            {
                if (prefetch) Prefetch.TwoLines(w + i);
                acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i + 16), Vector512.Load(x + i + 16), acc1);
            }
            for (; i + 16 <= k; i += 16) acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), acc0);
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (KernelIsa.Vector256)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= k; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < k; i++) sum += w[i] * x[i];
        return sum;
    }

    public void Dispose() { } // the weight tensor belongs to the model
}
