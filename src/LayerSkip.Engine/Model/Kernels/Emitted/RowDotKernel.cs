using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// A product kernel assembled at run time (<see cref="RowDotProgram"/>) for an instruction .NET has no intrinsic for:
/// AVX-512 BF16's VDPBF16PS for bfloat16 weights (two bfloat16 products into each float32 lane), and AVX-512 VNNI's
/// VPDPBUSD on 512-bit vectors for int8 and int4 weights (.NET exposes it on 256-bit vectors only). Against the managed
/// kernels they need a fraction of the instructions per weight byte, so one activation row streams at the memory's
/// pace and a verification's few rows cost little more than one (docs/benchmarks.md). Each kernel is assembled once
/// per format, row length and number of activation rows, and kept for the life of the process.
/// </summary>
internal sealed unsafe class RowDotKernel
{
    /// <summary>The most activation rows one call takes; larger batches go in groups.</summary>
    public const int MaxRows = RowDotProgram.MaxRows;

    /// <summary>True on x64 Linux with AVX-512 BF16 and executable pages, unless LAYERSKIP_BF16_DOT=0.</summary>
    public static bool Bf16Available { get; } = Detect("LAYERSKIP_BF16_DOT", () => (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0);

    /// <summary>True on x64 Linux with AVX-512 VNNI and executable pages, unless LAYERSKIP_INT8_DOT=0 (int8 and int4 weights).</summary>
    public static bool Int8Available { get; } = Detect("LAYERSKIP_INT8_DOT", () => (X86Base.CpuId(7, 0).Ecx & (1 << 11)) != 0);

    private static readonly ConcurrentDictionary<(char Format, int Length, int Group, int Rows), RowDotKernel> Cache = new();

    private readonly delegate* unmanaged<void*, long, void*, float*, long, void*, void> _code;

    private RowDotKernel(nint code) => _code = (delegate* unmanaged<void*, long, void*, float*, long, void*, void>)code;

    /// <summary>
    /// bfloat16 rows of <paramref name="k"/> elements against <paramref name="rows"/> bfloat16 activation rows,
    /// <see cref="Bf16DotProgram.ActivationStride"/> elements apart.
    /// </summary>
    public static RowDotKernel Bf16(int k, int rows) =>
        Get(Bf16Available, ('b', k, 0, rows), () => new Bf16DotProgram(k, rows, Frontier(rows)).Emit());

    /// <summary>Unsigned int8 rows of <paramref name="padded"/> bytes against <paramref name="rows"/> int8 activation records.</summary>
    public static RowDotKernel Int8(int padded, int rows) => Get(Int8Available, ('i', padded, 0, rows), () => new Int8DotProgram(padded, rows, Frontier(rows)).Emit());

    /// <summary>Packed int4 rows of <paramref name="padded"/> columns in groups of <paramref name="groupSize"/> against int8 activation records.</summary>
    public static RowDotKernel Int4(int padded, int groupSize, int rows) =>
        Get(Int8Available, ('4', padded, groupSize, rows), () => new Int4DotProgram(padded, groupSize, rows, Frontier(rows)).Emit());

    /// <summary>Packed int4 rows in superblocks (<see cref="Int4SuperblockProgram"/>) against int8 activation records.</summary>
    public static RowDotKernel Int4Superblocks(int padded, int groupSize, int rows) =>
        Get(Int8Available, ('s', padded, groupSize, rows), () => new Int4SuperblockProgram(padded, groupSize, rows, Frontier(rows, Prefetch.Int4RowDistance)).Emit());

    /// <summary>
    /// y[r * yStride + j] = the product of weight row j (of <paramref name="weightRows"/> from <paramref name="w"/>) and
    /// activation row r, for this kernel's number of rows; <paramref name="weightRowData"/> is the first weight row's
    /// own data where the format has any (int4: its group scales).
    /// </summary>
    public void Run(void* w, long weightRows, void* x, float* y, long yStride, void* weightRowData = null) =>
        _code(w, weightRows, x, y, yStride, weightRowData);

    /// <summary>
    /// The prefetch frontier of a kernel over <paramref name="rows"/> activation rows (see <see cref="Prefetch.FrontierDistance"/>),
    /// or <paramref name="oneRow"/> for one.
    /// </summary>
    private static int Frontier(int rows, int oneRow = 0) => !Prefetch.Enabled ? 0 : rows > 1 ? Prefetch.FrontierDistance : oneRow;

    private static RowDotKernel Get(bool available, (char, int, int, int) key, Func<byte[]> emit)
    {
        if (!available) throw new PlatformNotSupportedException("This machine has no assembled kernel of this kind (see RowDotKernel).");
        return Cache.GetOrAdd(key, _ => new RowDotKernel(ExecutableMemory.TryPlace(emit())
            ?? throw new InvalidOperationException("The system refused an executable page for an assembled kernel.")));
    }

    private static bool Detect(string switchVariable, Func<bool> cpuHasIt)
    {
        if (Environment.GetEnvironmentVariable(switchVariable) == "0") return false;
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return false;
        if (!Avx512F.IsSupported || !Avx512BW.IsSupported || !cpuHasIt()) return false; // Avx512F also says the OS saves the registers
        return ExecutableMemory.Available;
    }
}
