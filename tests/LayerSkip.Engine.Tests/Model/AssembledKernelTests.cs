using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using LayerSkip.Engine.Model.Kernels;
using LayerSkip.Engine.Model.Kernels.Emitted;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// The machinery under the assembled kernels: code placed in executable pages runs, and on a CPU that has the
/// instructions the kernels are really used (a silent fallback to the managed kernels would pass every product test).
/// </summary>
public unsafe class AssembledKernelTests
{
    private static bool LinuxX64 => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    [Fact]
    public void PlacedCodeRuns()
    {
        if (!LinuxX64)
        {
            Assert.Null(ExecutableMemory.TryPlace([0xC3]));
            return;
        }
        byte[] code = [0xB8, 42, 0, 0, 0, 0xC3]; // mov eax, 42; ret
        var placed = ExecutableMemory.TryPlace(code);
        Assert.NotNull(placed);
        Assert.Equal(42, ((delegate* unmanaged<int>)placed.Value)());
    }

    [Fact]
    public void TheKernelsAreAvailableWhereTheCpuHasTheInstructions()
    {
        var avx512 = LinuxX64 && Avx512F.IsSupported && Avx512BW.IsSupported;
        var bf16 = avx512 && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0 && Environment.GetEnvironmentVariable("LAYERSKIP_BF16_DOT") != "0";
        var vnni = avx512 && (X86Base.CpuId(7, 0).Ecx & (1 << 11)) != 0 && Environment.GetEnvironmentVariable("LAYERSKIP_INT8_DOT") != "0";
        Assert.Equal(bf16, RowDotKernel.Bf16Available);
        Assert.Equal(vnni, RowDotKernel.Int8Available);
    }

    [Theory]
    [InlineData(0)] [InlineData(8)]
    public void OneCallTakesOneToSevenActivationRows(int rows)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Bf16DotProgram(64, rows, 0).Emit());
        Assert.Throws<ArgumentOutOfRangeException>(() => new Int8DotProgram(64, rows, 0).Emit());
    }

    [Theory]
    [InlineData(1000, 3)] [InlineData(2752, 5)] [InlineData(64, 7)]
    public void PrefetchingAheadLeavesEveryProductAsItWas(int k, int rows)
    {
        if (!RowDotKernel.Bf16Available) return;
        const int weightRows = 40;
        var stride = Bf16DotProgram.ActivationStride(k);
        var random = new Random(k + rows);
        ushort Bf16() => (ushort)(BitConverter.SingleToInt32Bits((float)(random.NextDouble() * 2 - 1)) >> 16);
        var w = Enumerable.Range(0, weightRows * k).Select(_ => Bf16()).ToArray();
        var x = Enumerable.Range(0, rows * stride).Select(i => i % stride < k ? Bf16() : (ushort)0).ToArray();

        float[] Run(int frontier)
        {
            var code = ExecutableMemory.TryPlace(new Bf16DotProgram(k, rows, frontier).Emit());
            Assert.NotNull(code);
            var y = new float[rows * weightRows];
            fixed (ushort* wp = w, xp = x)
            fixed (float* yp = y)
                ((delegate* unmanaged<void*, long, void*, float*, long, void*, void>)code.Value)(wp, weightRows, xp, yp, weightRows, null);
            return y;
        }

        var plain = Run(0);
        var ahead = Run(4096);
        Assert.Equal(plain.Select(BitConverter.SingleToInt32Bits), ahead.Select(BitConverter.SingleToInt32Bits));
        static double F(ushort v) => BitConverter.Int32BitsToSingle(v << 16);
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < weightRows; j++)
            {
                var reference = 0.0;
                for (var i = 0; i < k; i++) reference += F(w[j * k + i]) * F(x[r * stride + i]);
                Assert.Equal(reference, ahead[r * weightRows + j], 1e-3);
            }
    }

    /// <summary>
    /// The int4 superblock kernel with its one-row weight prefetch and without gives the same bits, and both the
    /// products of packed codes, group scales and mins that each weight row carries in its own data (which the frame
    /// steps row by row and asks for ahead).
    /// </summary>
    [Theory]
    [InlineData(2048, 128, 1)] [InlineData(3072, 256, 1)] [InlineData(1024, 1024, 3)]
    public void Int4SuperblockPrefetchLeavesEveryProductAsItWas(int padded, int group, int rows)
    {
        if (!RowDotKernel.Int8Available) return;
        const int weightRows = 40, chunk = 64;
        int groups = padded / group, record = Int4SuperblockProgram.Record(padded, groups);
        var random = new Random(padded + rows);
        var codes = Enumerable.Range(0, weightRows * padded).Select(_ => random.Next(16)).ToArray();
        var rowData = Enumerable.Range(0, weightRows * 2 * groups).Select(_ => (float)(random.NextDouble() * 0.2 - 0.1)).ToArray();
        var xq = Enumerable.Range(0, rows * padded).Select(_ => (sbyte)random.Next(-127, 128)).ToArray();
        var xScales = Enumerable.Range(0, rows * padded / chunk).Select(_ => (float)(random.NextDouble() * 0.01 + 0.001)).ToArray();
        var groupSums = new float[rows * groups];
        for (var r = 0; r < rows; r++)
            for (var k = 0; k < padded; k++) groupSums[r * groups + k / group] += xScales[r * padded / chunk + k / chunk] * xq[r * padded + k];

        var packed = (byte*)NativeMemory.AlignedAlloc((nuint)(weightRows * padded / 2), 64);
        var x = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * record), 64);
        try
        {
            for (var n = 0; n < weightRows; n++)
                for (var k = 0; k < padded; k++)
                {
                    var (at, high) = Int4SuperblockProgram.Place(k);
                    ref var b = ref packed[n * padded / 2 + at];
                    b = (byte)(high ? (b & 0x0F) | (codes[n * padded + k] << 4) : (b & 0xF0) | codes[n * padded + k]);
                }
            fixed (sbyte* q = xq)
            fixed (float* s = xScales, g = groupSums)
                for (var r = 0; r < rows; r++)
                    Int4SuperblockProgram.Layout(q + r * padded, s + r * padded / chunk, g + r * groups, padded, groups, x + r * record);

            float[] Run(int frontier)
            {
                var code = ExecutableMemory.TryPlace(new Int4SuperblockProgram(padded, group, rows, frontier).Emit());
                Assert.NotNull(code);
                var y = new float[rows * weightRows];
                fixed (float* yp = y, data = rowData)
                    ((delegate* unmanaged<void*, long, void*, float*, long, void*, void>)code.Value)(packed, weightRows, x, yp, weightRows, data);
                return y;
            }

            var plain = Run(0);
            var ahead = Run(Prefetch.Int4RowDistance);
            Assert.Equal(plain.Select(BitConverter.SingleToInt32Bits), ahead.Select(BitConverter.SingleToInt32Bits));
            for (var r = 0; r < rows; r++)
                for (var n = 0; n < weightRows; n++)
                {
                    var reference = 0.0;
                    for (var k = 0; k < padded; k++)
                    {
                        var weight = rowData[n * 2 * groups + k / group] * codes[n * padded + k] + rowData[n * 2 * groups + groups + k / group];
                        reference += weight * xScales[r * padded / chunk + k / chunk] * xq[r * padded + k];
                    }
                    Assert.Equal(reference, ahead[r * weightRows + n], 1e-3);
                }
        }
        finally
        {
            NativeMemory.AlignedFree(packed);
            NativeMemory.AlignedFree(x);
        }
    }
}
