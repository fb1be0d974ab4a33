using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
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
}
