using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Loading;

/// <summary>
/// The weights of a model folder: a single <c>model.safetensors</c> or shards listed by
/// <c>model.safetensors.index.json</c>. Hands out tensors by name with their shape checked.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    private readonly Dictionary<string, SafeTensorsFile> _byTensor;
    private readonly List<SafeTensorsFile> _files;

    private Checkpoint(List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> byTensor)
    {
        _files = files;
        _byTensor = byTensor;
    }

    public IEnumerable<string> TensorNames => _byTensor.Keys;

    public static Checkpoint Open(string modelFolder)
    {
        var single = Path.Combine(modelFolder, "model.safetensors");
        var index = Path.Combine(modelFolder, "model.safetensors.index.json");
        List<string> paths;
        if (File.Exists(index))
            paths = ReadIndex(index, modelFolder);
        else if (File.Exists(single))
            paths = [single];
        else
            throw new ModelLoadException("No weights: the folder has neither model.safetensors nor model.safetensors.index.json", modelFolder);

        var files = new List<SafeTensorsFile>();
        try
        {
            var byTensor = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (var p in paths)
            {
                var f = SafeTensorsFile.Open(p);
                files.Add(f);
                foreach (var name in f.Tensors.Keys) byTensor[name] = f;
            }
            return new Checkpoint(files, byTensor);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static List<string> ReadIndex(string indexPath, string folder)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
            var shards = doc.RootElement.GetProperty("weight_map").EnumerateObject()
                .Select(p => p.Value.GetString()!).Distinct().ToList();
            var missing = shards.FirstOrDefault(s => !File.Exists(Path.Combine(folder, s)));
            if (missing != null) throw new ModelLoadException($"Shard '{missing}' named in the index is missing", indexPath);
            return shards.Select(s => Path.Combine(folder, s)).ToList();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ModelLoadException($"model.safetensors.index.json is malformed: {e.Message}", indexPath, e);
        }
    }

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    /// <summary>Loads a tensor, checks its shape, converts it to <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    public Tensor Load(string name, long[] expectedShape, ScalarType dtype, Device device)
    {
        if (!_byTensor.TryGetValue(name, out var file))
            throw new ModelLoadException($"Tensor '{name}' is missing from the checkpoint", _files.Count == 1 ? _files[0].Path : Path.GetDirectoryName(_files[0].Path));
        var info = file.Tensors[name];
        if (!info.Shape.SequenceEqual(expectedShape))
            throw new ModelLoadException(
                $"Tensor '{name}' has shape [{string.Join(", ", info.Shape)}] but the config implies [{string.Join(", ", expectedShape)}]", file.Path);

        var fileType = info.DType switch
        {
            SafeTensorDType.F32 => ScalarType.Float32,
            SafeTensorDType.F16 => ScalarType.Float16,
            SafeTensorDType.BF16 => ScalarType.BFloat16,
            SafeTensorDType.I64 => ScalarType.Int64,
            _ => ScalarType.Int32,
        };
        var raw = empty(info.Shape, fileType);
        raw.bytes = MemoryMarshalSpan(file.GetBytes(info));
        if (fileType == dtype && device.type == DeviceType.CPU) return raw;
        var converted = raw.to(dtype, device);
        raw.Dispose();
        return converted;
    }

    // Tensor.bytes takes a Span<byte>; it only reads from it.
    private static unsafe Span<byte> MemoryMarshalSpan(ReadOnlySpan<byte> span) =>
        System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(span), span.Length);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
