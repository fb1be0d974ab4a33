using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LayerSkip.Engine.Model.Kernels;

internal sealed unsafe partial class Int8MatVec : IDequantize
{
    /// <summary>W[row, k] = scale · (stored − 128), eight columns per step.</summary>
    public void DequantizeRow(int row, float* destination)
    {
        var q = _q + (long)row * _padded;
        var scale = _scales[row];
        var k = 0;
        if (KernelIsa.Vector256 && Avx2.IsSupported)
        {
            var s = Vector256.Create(scale);
            var offset = Vector256.Create(128);
            for (; k + 8 <= InFeatures; k += 8)
                (Vector256.ConvertToSingle(Avx2.ConvertToVector256Int32(q + k) - offset) * s).Store(destination + k);
        }
        for (; k < InFeatures; k++) destination[k] = (q[k] - 128) * scale;
    }
}
