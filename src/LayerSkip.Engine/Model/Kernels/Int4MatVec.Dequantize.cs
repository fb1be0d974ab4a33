using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LayerSkip.Engine.Model.Kernels;

internal sealed unsafe partial class Int4MatVec : IDequantize
{
    /// <summary>
    /// W[row, k] = scale · q + min per group. A 64-column chunk's byte j holds column j (low nibble) and column j + 32
    /// (high nibble), so eight bytes give eight columns of each half; each half takes its group's scale and min (the
    /// same group unless groups are 32 wide).
    /// </summary>
    public void DequantizeRow(int row, float* destination)
    {
        var packed = _q + (long)row * _padded / 2;
        var simd = KernelIsa.Vector256 && Avx2.IsSupported;
        for (var c = 0; c < InFeatures; c += Chunk)
        {
            float lowScale = Scale(row, c / GroupSize), lowMin = Min(row, c / GroupSize);
            float highScale = Scale(row, (c + 32) / GroupSize), highMin = Min(row, (c + 32) / GroupSize);
            var bytes = packed + c / 2;
            var dst = destination + c;
            if (simd && c + Chunk <= InFeatures)
            {
                Vector256<float> ls = Vector256.Create(lowScale), lm = Vector256.Create(lowMin);
                Vector256<float> hs = Vector256.Create(highScale), hm = Vector256.Create(highMin);
                var low = Vector256.Create(0x0F);
                for (var j = 0; j < 32; j += 8)
                {
                    var b = Avx2.ConvertToVector256Int32(bytes + j);
                    (Vector256.ConvertToSingle(b & low) * ls + lm).Store(dst + j);
                    (Vector256.ConvertToSingle(Vector256.ShiftRightLogical(b, 4)) * hs + hm).Store(dst + 32 + j);
                }
                continue;
            }
            for (var j = 0; j < 32; j++)
            {
                if (c + j < InFeatures) dst[j] = (bytes[j] & 0x0F) * lowScale + lowMin;
                if (c + 32 + j < InFeatures) dst[32 + j] = (bytes[j] >> 4) * highScale + highMin;
            }
        }
    }
}
