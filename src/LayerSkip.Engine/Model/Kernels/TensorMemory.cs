using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model.Kernels;

/// <summary>The raw memory of a contiguous CPU tensor, for kernels that read weights in place.</summary>
internal static partial class TensorMemory
{
    public static IntPtr Pointer(Tensor t)
    {
        if (t.device_type != DeviceType.CPU) throw new ArgumentException("The kernels read CPU tensors only.");
        if (!t.is_contiguous()) throw new ArgumentException("The kernels read contiguous tensors only.");
        return THSTensor_data(t.Handle);
    }

    // TorchSharp binds this entry point but does not expose it; the native library is already loaded by TorchSharp.
    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_data(IntPtr handle);
}
