using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LayerSkip.Engine.Model.Kernels.Emitted;

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
        if (_superblocks)
        {
            DequantizeSuperblocks(row, packed, destination);
            return;
        }
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

    /// <summary>
    /// <see cref="DequantizeRow"/> for rows packed in superblocks: word i of a superblock's vector v holds four columns
    /// of chunk i in its low nibbles and the four 32 columns later in its high nibbles.
    /// </summary>
    private void DequantizeSuperblocks(int row, byte* packed, float* destination)
    {
        const int Columns = Int4SuperblockProgram.Columns;
        var simd = KernelIsa.Vector256 && Sse41.IsSupported;
        for (var c = 0; c < InFeatures; c += Chunk)
        {
            float scale = Scale(row, c / GroupSize), min = Min(row, c / GroupSize);
            var words = packed + c / Columns * (Columns / 2) + c % Columns / Chunk * 4;
            var dst = destination + c;
            if (simd && c + Chunk <= InFeatures)
            {
                Vector128<float> s = Vector128.Create(scale), m = Vector128.Create(min);
                var low = Vector128.Create(0x0F);
                for (var v = 0; v < 8; v++)
                {
                    var b = Sse41.ConvertToVector128Int32(words + v * 64);
                    (Vector128.ConvertToSingle(b & low) * s + m).Store(dst + 4 * v);
                    (Vector128.ConvertToSingle(Vector128.ShiftRightLogical(b, 4)) * s + m).Store(dst + 32 + 4 * v);
                }
                continue;
            }
            for (var v = 0; v < 8; v++)
                for (var j = 0; j < 4; j++)
                {
                    var code = words[v * 64 + j];
                    if (c + 4 * v + j < InFeatures) dst[4 * v + j] = (code & 0x0F) * scale + min;
                    if (c + 32 + 4 * v + j < InFeatures) dst[32 + 4 * v + j] = (code >> 4) * scale + min;
                }
        }
    }
}
