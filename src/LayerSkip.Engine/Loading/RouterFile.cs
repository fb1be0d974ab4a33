using System.Globalization;
using LayerSkip.Engine.Training.Routing;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Loading;

/// <summary>
/// Token routers on disk (written by <c>layerskip train-router</c>): safetensors with <c>router.weight</c>
/// [layers, hidden] and <c>router.bias</c> [layers] in F32, the budget in the metadata.
/// </summary>
internal static class RouterFile
{
    /// <summary>The name looked for in a model folder.</summary>
    public const string DefaultName = "router.safetensors";

    /// <summary><paramref name="explicitPath"/> (which must exist), else the model folder's router file when it has one.</summary>
    public static string? Locate(string? explicitPath, string modelFolder)
    {
        if (explicitPath is { } path)
            return File.Exists(path) ? Path.GetFullPath(path) : throw new ModelLoadException("Router file not found", path);
        var beside = Path.Combine(modelFolder, DefaultName);
        return File.Exists(beside) ? beside : null;
    }

    /// <summary>Reads a router file onto <paramref name="device"/>.</summary>
    public static LayerRouterSet Load(string path, Device? device = null)
    {
        device ??= CPU;
        using var file = SafeTensorsFile.Open(path);
        if (!file.Tensors.TryGetValue("router.weight", out var wInfo) || !file.Tensors.ContainsKey("router.bias"))
            throw new ModelLoadException("Not a router file: it needs router.weight and router.bias", path);
        var budget = file.Metadata is { } m && m.TryGetValue("budget", out var b) ? double.Parse(b, CultureInfo.InvariantCulture) : double.NaN;
        using var _ = no_grad();
        var weight = LoadF32(file, "router.weight", wInfo.Shape, device);
        var bias = LoadF32(file, "router.bias", [wInfo.Shape[0]], device);
        return new LayerRouterSet(weight, bias, budget);
    }

    /// <summary>Reads a router file for a model, checking that it has one router per layer of the model's width.</summary>
    public static LayerRouterSet LoadFor(string path, ModelConfig config, Device device)
    {
        var router = Load(path, device);
        if (router.LayerCount == config.NumLayers && router.HiddenSize == config.HiddenSize) return router;
        router.Dispose();
        throw new ModelLoadException($"The routers are for {router.LayerCount} layers of width {router.HiddenSize}, not this model's {config.NumLayers} of {config.HiddenSize}", path);
    }

    private static Tensor LoadF32(SafeTensorsFile file, string name, long[] shape, Device device)
    {
        var info = file.Tensors[name];
        if (info.DType != SafeTensorDType.F32 || !info.Shape.SequenceEqual(shape))
            throw new ModelLoadException($"Router tensor '{name}' must be F32 [{string.Join(", ", shape)}]", file.Path);
        var bytes = file.GetBytes(info).ToArray();
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return tensor(values, shape, ScalarType.Float32).to(device).DetachFromDisposeScope();
    }
}
