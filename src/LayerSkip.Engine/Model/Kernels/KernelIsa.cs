using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>Which instruction sets the kernels use; tests switch SIMD off to check the portable scalar paths.</summary>
internal static class KernelIsa
{
    /// <summary>When set, every kernel takes its scalar path (same results up to float rounding).</summary>
    internal static bool ScalarOnly { get; set; }

    /// <summary>When set, products use the managed SIMD kernels even where an assembled kernel is available.</summary>
    internal static bool ManagedOnly { get; set; }

    /// <summary>When set, int4 matrices made from now on keep 64-column chunks where they would take superblocks.</summary>
    internal static bool ChunkedInt4 { get; set; }

    public static bool Vector512 => !ScalarOnly && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;
    public static bool Vector256 => !ScalarOnly && System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated;
    /// <summary>AVX-512 BF16's bfloat16 dot product, through a kernel assembled at run time.</summary>
    public static bool Bf16Dot => !ScalarOnly && !ManagedOnly && Emitted.RowDotKernel.Bf16Available;
    /// <summary>AVX-512 VNNI's u8 × s8 → s32 dot product on 512-bit vectors, through a kernel assembled at run time.</summary>
    public static bool Int8Dot => !ScalarOnly && !ManagedOnly && Emitted.RowDotKernel.Int8Available;
    /// <summary>AVX-VNNI's u8 × s8 → s32 dot product on 256-bit vectors.</summary>
    public static bool Vnni => !ScalarOnly && AvxVnni.IsSupported;
}
