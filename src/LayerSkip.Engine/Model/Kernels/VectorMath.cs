using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>A float32 or bfloat16 vector in native memory (a weight or cache tensor read in place).</summary>
internal readonly unsafe struct FloatMemory(void* data, bool bf16)
{
    public void* Data { get; } = data;
    public bool BFloat16 { get; } = bf16;

    public FloatMemory Offset(long elements) =>
        new(BFloat16 ? (ushort*)Data + elements : (float*)Data + elements, BFloat16);

    public float this[long i] => BFloat16 ? VectorMath.ToFloat(((ushort*)Data)[i]) : ((float*)Data)[i];

    /// <summary>Sixteen elements from <paramref name="i"/> as float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Load16(long i) => BFloat16
        ? Vector512.ShiftLeft(Vector512.WidenLower(Vector256.Load((ushort*)Data + i).ToVector512Unsafe()), 16).AsSingle()
        : Vector512.Load((float*)Data + i);
}

/// <summary>
/// The element-wise parts of a decode step on float32 rows in native memory: norms, rotary embedding, the gated
/// activation, residual adds and bfloat16 conversion. Each is one pass over a few thousand floats.
/// </summary>
internal static unsafe class VectorMath
{
    public static float ToFloat(ushort bf16) => BitConverter.Int32BitsToSingle(bf16 << 16);

    /// <summary>y = x / √(mean(x²) + eps) · weight, over <paramref name="n"/> elements (y may be x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RmsNorm(float* x, FloatMemory weight, float* y, int n, float eps)
    {
        var inv = 1f / MathF.Sqrt(SumOfSquares(x, n) / n + eps);
        var i = 0;
        if (KernelIsa.Vector512)
        {
            var scale = Vector512.Create(inv);
            for (; i + 16 <= n; i += 16) (Vector512.Load(x + i) * scale * weight.Load16(i)).Store(y + i);
        }
        for (; i < n; i++) y[i] = x[i] * inv * weight[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float SumOfSquares(float* x, int n)
    {
        var i = 0;
        var sum = 0f;
        if (KernelIsa.Vector512)
        {
            Vector512<float> a0 = default, a1 = default;
            for (; i + 32 <= n; i += 32)
            {
                var v0 = Vector512.Load(x + i);
                var v1 = Vector512.Load(x + i + 16);
                a0 = Vector512.FusedMultiplyAdd(v0, v0, a0);
                a1 = Vector512.FusedMultiplyAdd(v1, v1, a1);
            }
            sum = Vector512.Sum(a0 + a1);
        }
        for (; i < n; i++) sum += x[i] * x[i];
        return sum;
    }

    /// <summary>x += y over <paramref name="n"/> elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(float* x, float* y, int n)
    {
        var i = 0;
        if (KernelIsa.Vector512)
            for (; i + 16 <= n; i += 16) (Vector512.Load(x + i) + Vector512.Load(y + i)).Store(x + i);
        for (; i < n; i++) x[i] += y[i];
    }

    /// <summary>x += bias over <paramref name="n"/> elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(float* x, FloatMemory bias, int n)
    {
        var i = 0;
        if (KernelIsa.Vector512)
            for (; i + 16 <= n; i += 16) (Vector512.Load(x + i) + bias.Load16(i)).Store(x + i);
        for (; i < n; i++) x[i] += bias[i];
    }

    /// <summary>y = silu(gate) · up = gate / (1 + e^−gate) · up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SiluTimes(float* gate, float* up, float* y, int n)
    {
        var i = 0;
        if (KernelIsa.Vector512)
        {
            var one = Vector512<float>.One;
            for (; i + 16 <= n; i += 16)
            {
                var g = Vector512.Load(gate + i);
                (g / (one + Vector512.Exp(-g)) * Vector512.Load(up + i)).Store(y + i);
            }
        }
        for (; i < n; i++) y[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    /// <summary>
    /// Rotates one head in place, Hugging Face layout: pairs are (j, j + d/2), rotated by the angles whose cosines and
    /// sines are given for j &lt; d/2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rotate(float* head, float* cos, float* sin, int headDim)
    {
        var half = headDim / 2;
        for (var j = 0; j < half; j++)
        {
            float a = head[j], b = head[j + half];
            head[j] = a * cos[j] - b * sin[j];
            head[j + half] = b * cos[j] + a * sin[j];
        }
    }

    /// <summary>Stores <paramref name="n"/> floats at <paramref name="into"/> in its element type.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Store(float* x, FloatMemory into, int n)
    {
        if (!into.BFloat16)
        {
            new ReadOnlySpan<float>(x, n).CopyTo(new Span<float>(into.Data, n));
            return;
        }
        Dequantization.ToBfloat16(x, (ushort*)into.Data, n);
    }

    /// <summary>Reads <paramref name="n"/> elements as float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Load(FloatMemory from, float* x, int n)
    {
        var i = 0;
        if (KernelIsa.Vector512)
            for (; i + 16 <= n; i += 16) from.Load16(i).Store(x + i);
        for (; i < n; i++) x[i] = from[i];
    }

    /// <summary>Σ a[i] · b[i] with b in float32 or bfloat16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* a, FloatMemory b, int n)
    {
        var i = 0;
        var sum = 0f;
        if (KernelIsa.Vector512)
        {
            var acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), b.Load16(i), acc);
            sum = Vector512.Sum(acc);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Replaces x by softmax(x) over <paramref name="n"/> elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Softmax(float* x, int n)
    {
        var max = float.NegativeInfinity;
        var i = 0;
        if (KernelIsa.Vector512 && n >= 16)
        {
            var highest = Vector512.Load(x + n - 16); // the last sixteen cover the tail the loop leaves
            for (; i + 16 <= n; i += 16) highest = Vector512.Max(highest, Vector512.Load(x + i));
            for (var lane = 0; lane < 16; lane++) max = Math.Max(max, highest.GetElement(lane));
            i = n;
        }
        for (; i < n; i++) max = Math.Max(max, x[i]);
        var sum = 0f;
        var k = 0;
        if (KernelIsa.Vector512)
        {
            var m = Vector512.Create(max);
            var acc = Vector512<float>.Zero;
            for (; k + 16 <= n; k += 16)
            {
                var e = Vector512.Exp(Vector512.Load(x + k) - m);
                e.Store(x + k);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        for (; k < n; k++) sum += x[k] = MathF.Exp(x[k] - max);
        var inv = 1f / sum;
        var j = 0;
        if (KernelIsa.Vector512)
            for (var scale = Vector512.Create(inv); j + 16 <= n; j += 16) (Vector512.Load(x + j) * scale).Store(x + j);
        for (; j < n; j++) x[j] *= inv;
    }
}
