using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>Which instruction sets the kernels use; tests switch SIMD off to check the portable scalar paths.</summary>
internal static class KernelIsa
{
    /// <summary>When set, every kernel takes its scalar path (same results up to float rounding).</summary>
    internal static bool ScalarOnly { get; set; }

    /// <summary>When set, bfloat16 products widen their weights to float32 even where the BF16 kernel is available.</summary>
    internal static bool WidenBf16 { get; set; }

    public static bool Vector512 => !ScalarOnly && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;
    public static bool Vector256 => !ScalarOnly && System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated;
    /// <summary>AVX-512 BF16's bfloat16 dot product, through the kernel assembled at run time.</summary>
    public static bool Bf16Dot => !ScalarOnly && !WidenBf16 && Emitted.Bf16DotKernel.Available;
    /// <summary>AVX-VNNI's u8 × s8 → s32 dot product on 256-bit vectors.</summary>
    public static bool Vnni => !ScalarOnly && AvxVnni.IsSupported;
}
