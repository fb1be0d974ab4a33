using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation;

/// <summary>Turns the device and dtype options into TorchSharp values, with clear errors for what is not there.</summary>
public static class ComputeDevice
{
    public static Device Resolve(string device)
    {
        var name = (device ?? "auto").Trim().ToLowerInvariant();
        if (name == "cpu") return CPU;
        if (name == "auto") return CudaAvailable() ? CUDA : CPU;
        if (name == "cuda" || name.StartsWith("cuda:"))
        {
            if (!CudaAvailable())
                throw new InvalidOperationException(
                    $"Device '{device}' was requested but CUDA is not available: the application must reference the " +
                    "TorchSharp-cuda-linux (or -windows) native package and run on a machine with an NVIDIA GPU and driver. " +
                    "Use Device = \"cpu\" or \"auto\" otherwise.");
            return torch.device(name);
        }
        throw new ArgumentException($"Unknown device '{device}': use auto, cpu, cuda or cuda:N.", nameof(device));
    }

    private static bool CudaAvailable()
    {
        try { return cuda.is_available(); }
        catch (Exception) { return false; }
    }

    public static ScalarType ResolveDType(string? dtype, Device device)
    {
        if (string.IsNullOrWhiteSpace(dtype)) return device.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32;
        return dtype.Trim().ToLowerInvariant() switch
        {
            "float32" or "f32" or "fp32" or "float" => ScalarType.Float32,
            "bfloat16" or "bf16" => ScalarType.BFloat16,
            "float16" or "f16" or "fp16" or "half" => ScalarType.Float16,
            _ => throw new ArgumentException($"Unknown compute dtype '{dtype}': use float32, bfloat16 or float16.", nameof(dtype)),
        };
    }

    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => dtype.ToString(),
    };
}
