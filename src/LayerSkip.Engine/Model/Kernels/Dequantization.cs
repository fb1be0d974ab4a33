using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>Writes dequantized weight rows into the memory of a float32 or bfloat16 CPU tensor.</summary>
internal static unsafe class Dequantization
{
    /// <summary>Rows [rowStart, rowStart + destination.shape[0]) of <paramref name="weight"/> into <paramref name="destination"/>.</summary>
    public static void Rows(IDequantize weight, int rowStart, Tensor destination, RowParallel threads)
    {
        var count = Check(weight, destination);
        var dst = (byte*)TensorMemory.Pointer(destination);
        var bf16 = destination.dtype == ScalarType.BFloat16;
        var cols = weight.InFeatures;
        threads.For(count, 16, (s, e) =>
        {
            var row = bf16 ? new float[cols] : null;
            fixed (float* buffer = row)
                for (var i = s; i < e; i++)
                    Row(weight, rowStart + i, dst, i, cols, bf16, buffer);
        });
    }

    /// <summary>The rows <paramref name="ids"/> of <paramref name="weight"/> into <paramref name="destination"/> [ids.Length, in].</summary>
    public static void Gather(IDequantize weight, ReadOnlySpan<long> ids, Tensor destination)
    {
        Check(weight, destination);
        if (destination.shape[0] != ids.Length) throw new ArgumentException("One destination row per id.", nameof(destination));
        var dst = (byte*)TensorMemory.Pointer(destination);
        var bf16 = destination.dtype == ScalarType.BFloat16;
        var cols = weight.InFeatures;
        var buffer = bf16 ? new float[cols] : null;
        fixed (float* b = buffer)
            for (var i = 0; i < ids.Length; i++)
            {
                if (ids[i] < 0 || ids[i] >= weight.OutFeatures)
                    throw new ArgumentOutOfRangeException(nameof(ids), $"Token id {ids[i]} is outside the vocabulary of {weight.OutFeatures}.");
                Row(weight, (int)ids[i], dst, i, cols, bf16, b);
            }
    }

    private static int Check(IDequantize weight, Tensor destination)
    {
        if (destination.dim() != 2 || destination.shape[1] != weight.InFeatures)
            throw new ArgumentException($"The destination must be [rows, {weight.InFeatures}].", nameof(destination));
        if (destination.dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"Weights dequantize to float32 or bfloat16, not {destination.dtype}.", nameof(destination));
        return (int)destination.shape[0];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row(IDequantize weight, int row, byte* dst, int i, int cols, bool bf16, float* buffer)
    {
        if (!bf16) { weight.DequantizeRow(row, (float*)dst + (long)i * cols); return; }
        weight.DequantizeRow(row, buffer);
        ToBfloat16(buffer, (ushort*)dst + (long)i * cols, cols);
    }

    /// <summary>Rounds to nearest even, as libtorch's float → bfloat16 conversion does (NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ToBfloat16(float* source, ushort* destination, int count)
    {
        var k = 0;
        if (KernelIsa.Vector256)
        {
            var one = Vector256.Create(1u);
            var bias = Vector256.Create(0x7FFFu);
            for (; k + 16 <= count; k += 16)
            {
                var a = Vector256.Load((uint*)source + k);
                var b = Vector256.Load((uint*)source + k + 8);
                a = Vector256.ShiftRightLogical(a + bias + (Vector256.ShiftRightLogical(a, 16) & one), 16);
                b = Vector256.ShiftRightLogical(b + bias + (Vector256.ShiftRightLogical(b, 16) & one), 16);
                var nanA = ~Vector256.Equals(Vector256.Load(source + k), Vector256.Load(source + k)).AsUInt32();
                var nanB = ~Vector256.Equals(Vector256.Load(source + k + 8), Vector256.Load(source + k + 8)).AsUInt32();
                a = Vector256.ConditionalSelect(nanA, Vector256.Create(0x7FC0u), a);
                b = Vector256.ConditionalSelect(nanB, Vector256.Create(0x7FC0u), b);
                Vector256.Narrow(a, b).Store(destination + k);
            }
        }
        for (; k < count; k++) destination[k] = ToBfloat16(source[k]);
    }

    public static ushort ToBfloat16(float value)
    {
        if (float.IsNaN(value)) return 0x7FC0;
        var bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }
}
