using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// Activation rows quantized to int8 in blocks of <see cref="Block"/> (one float scale each), so that integer dot
/// products (AVX-VNNI u8 × s8) multiply them with quantized weights. Rows are zero-padded to a multiple of the block.
/// </summary>
internal sealed unsafe class QuantizedActivation
{
    public const int Block = 64;

    public int Rows { get; }
    /// <summary>The padded row length, a multiple of <see cref="Block"/>.</summary>
    public int Length { get; }
    public sbyte[] Values { get; }
    /// <summary>One scale per block: x ≈ scale · q.</summary>
    public float[] Scales { get; }
    /// <summary>Per block, scale · Σ q: the dequantized block's sum (for zero points and offsets).</summary>
    public float[] BlockSums { get; }
    /// <summary>Per half block (32 columns), scale · Σ q: what the zero points of groups of 32 multiply.</summary>
    public float[] HalfBlockSums { get; }

    public QuantizedActivation(float* x, int rows, int inFeatures, int paddedLength)
    {
        Rows = rows;
        Length = paddedLength;
        Values = new sbyte[rows * paddedLength];
        var blocks = paddedLength / Block;
        Scales = new float[rows * blocks];
        BlockSums = new float[rows * blocks];
        HalfBlockSums = new float[rows * blocks * 2];
        var padded = stackalloc float[Block];
        fixed (sbyte* q = Values)
            for (var r = 0; r < rows; r++)
                for (var b = 0; b < blocks; b++)
                {
                    var start = b * Block;
                    var src = x + (long)r * inFeatures + start;
                    var n = Math.Min(Block, inFeatures - start);
                    if (n < Block)
                    {
                        new Span<float>(padded, Block).Clear();
                        if (n > 0) new ReadOnlySpan<float>(src, n).CopyTo(new Span<float>(padded, Block));
                        src = padded;
                    }
                    var (scale, low, high) = QuantizeBlock(src, q + (long)r * paddedLength + start);
                    Scales[r * blocks + b] = scale;
                    BlockSums[r * blocks + b] = scale * (low + high);
                    HalfBlockSums[2 * (r * blocks + b)] = scale * low;
                    HalfBlockSums[2 * (r * blocks + b) + 1] = scale * high;
                }
    }

    /// <summary>Quantizes one block; returns its scale and the sums of its codes over the first and the second 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (float Scale, int Low, int High) QuantizeBlock(float* x, sbyte* q)
    {
        if (KernelIsa.Vector256)
        {
            var max = Vector256<float>.Zero;
            for (var i = 0; i < Block; i += 8) max = Vector256.Max(max, Vector256.Abs(Vector256.Load(x + i)));
            var amax = 0f;
            for (var i = 0; i < 8; i++) amax = Math.Max(amax, max.GetElement(i));
            var scale = amax / 127f;
            var inv = Vector256.Create(amax == 0 ? 0f : 127f / amax);
            int low = 0, high = 0;
            for (var i = 0; i < Block; i += 32)
            {
                var a = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i) * inv));
                var b = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 8) * inv));
                var c = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 16) * inv));
                var d = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 24) * inv));
                var half = Vector256.Sum(a + b + c + d);
                if (i == 0) low = half; else high = half;
                Vector256.Narrow(Vector256.Narrow(a, b), Vector256.Narrow(c, d)).Store(q + i);
            }
            return (scale, low, high);
        }
        else
        {
            var amax = 0f;
            for (var i = 0; i < Block; i++) amax = Math.Max(amax, Math.Abs(x[i]));
            var inv = amax == 0 ? 0f : 127f / amax;
            int low = 0, high = 0;
            for (var i = 0; i < Block; i++)
            {
                var v = (int)MathF.Round(x[i] * inv);
                q[i] = (sbyte)v;
                if (i < Block / 2) low += v; else high += v;
            }
            return (amax / 127f, low, high);
        }
    }
}
