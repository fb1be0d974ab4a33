using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// Products of bfloat16 weight rows with bfloat16 activation rows through AVX-512 BF16's VDPBF16PS, which multiplies
/// and sums two bfloat16 pairs into a float32 lane in one instruction. .NET exposes no intrinsic for it, so the loop is
/// assembled at run time (<see cref="Bf16DotProgram"/>), once per row length and number of activation rows.
/// Against widening the weights to float32 and using FMA, it needs a quarter of the instructions per weight byte: one
/// activation row still streams at the memory's pace, and a speculative verification's few rows cost little more than
/// one (docs/benchmarks.md).
/// </summary>
internal sealed unsafe class Bf16DotKernel
{
    /// <summary>
    /// True on x64 Linux with AVX-512 BF16 and executable pages, unless LAYERSKIP_BF16_DOT=0 (to compare with the
    /// widening kernel).
    /// </summary>
    public static bool Available { get; } = Detect();

    public const int MaxRows = Bf16DotProgram.MaxRows;

    private static readonly ConcurrentDictionary<(int K, int Rows), Bf16DotKernel> Cache = new();

    private readonly delegate* unmanaged<ushort*, long, ushort*, float*, long, void> _code;

    private Bf16DotKernel(nint code) => _code = (delegate* unmanaged<ushort*, long, ushort*, float*, long, void>)code;

    /// <summary>The kernel for rows of <paramref name="k"/> elements against 1 to <see cref="MaxRows"/> activation rows.</summary>
    public static Bf16DotKernel For(int k, int rows)
    {
        if (!Available) throw new PlatformNotSupportedException("This machine has no AVX-512 BF16 kernel (see Bf16DotKernel.Available).");
        return Cache.GetOrAdd((k, rows), key =>
        {
            var code = Bf16DotProgram.Emit(key.K, key.Rows, Prefetch.Enabled ? Prefetch.Distance : 0);
            return new Bf16DotKernel(ExecutableMemory.TryPlace(code)
                ?? throw new InvalidOperationException("The system refused an executable page for the bfloat16 kernel."));
        });
    }

    /// <summary>
    /// y[r * yStride + j] = w[j] · x[r] for <paramref name="weightRows"/> weight rows at <paramref name="w"/> (k apart) and
    /// this kernel's number of bfloat16 activation rows at <paramref name="x"/>, <see cref="Bf16DotProgram.ActivationStride"/>
    /// elements apart and best 64-byte aligned.
    /// </summary>
    public void Run(ushort* w, long weightRows, ushort* x, float* y, long yStride) => _code(w, weightRows, x, y, yStride);

    private static bool Detect()
    {
        if (Environment.GetEnvironmentVariable("LAYERSKIP_BF16_DOT") == "0") return false;
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return false;
        if (!Avx512F.IsSupported || !Avx512BW.IsSupported) return false; // also says the OS saves the vector registers
        const int Avx512Bf16 = 1 << 5; // CPUID leaf 7, sub-leaf 1, EAX
        if ((X86Base.CpuId(7, 1).Eax & Avx512Bf16) == 0) return false;
        return ExecutableMemory.TryPlace([0xC3]) is not null; // a lone `ret`: can this process map code at all?
    }
}
