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

    private Checkpoint(string folder, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> byTensor)
    {
        Folder = folder;
        _files = files;
        _byTensor = byTensor;
    }

    /// <summary>The model folder the weights were read from.</summary>
    public string Folder { get; }

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
                foreach (var name in f.Tensors.Keys)
                    if (!byTensor.TryAdd(name, f))
                        throw new ModelLoadException($"Tensor '{SafeTensorsFile.Printable(name)}' is in two shards, {Path.GetFileName(byTensor[name].Path)} and {Path.GetFileName(p)}", index);
            }
            return new Checkpoint(modelFolder, files, byTensor);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The shard files of an index. Each must lie inside the model folder as named there (a Hugging Face cache
    /// links its files into blobs/, which is fine: the name is checked, not the link target), so a hostile index
    /// cannot make the loader open, or echo, any other file.
    /// </summary>
    private static List<string> ReadIndex(string indexPath, string folder)
    {
        List<string> shards;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException("model.safetensors.index.json has no \"weight_map\" object", indexPath);
            shards = map.EnumerateObject()
                .Select(p => p.Value.ValueKind == JsonValueKind.String
                    ? p.Value.GetString()!
                    : throw new ModelLoadException($"model.safetensors.index.json maps '{SafeTensorsFile.Printable(p.Name)}' to a {p.Value.ValueKind}, not a file name", indexPath))
                .Distinct().ToList();
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"model.safetensors.index.json is malformed: {e.Message}", indexPath, e);
        }
        if (shards.Count == 0) throw new ModelLoadException("model.safetensors.index.json lists no shards", indexPath);

        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)) + Path.DirectorySeparatorChar;
        var paths = new List<string>();
        foreach (var shard in shards)
        {
            var full = shard.Length == 0 || shard.Contains('\0') || Path.IsPathRooted(shard) ? null : Path.GetFullPath(Path.Combine(root, shard));
            if (full is null || !full.StartsWith(root, StringComparison.Ordinal) || !full.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
                throw new ModelLoadException(
                    $"Shard '{SafeTensorsFile.Printable(shard)}' named in the index is not a .safetensors file inside the model folder; refusing to open it", indexPath);
            if (!File.Exists(full))
                throw new ModelLoadException($"Shard '{SafeTensorsFile.Printable(shard)}' named in the index is missing", indexPath);
            paths.Add(full);
        }
        return paths;
    }

    /// <summary>Where a tensor lies, without reading it.</summary>
    public bool TryGetInfo(string name, out SafeTensorInfo info, out string file)
    {
        if (_byTensor.TryGetValue(name, out var f))
        {
            (info, file) = (f.Tensors[name], f.Path);
            return true;
        }
        (info, file) = (null!, "");
        return false;
    }

    /// <summary>The file to name in an error about the weights as a whole.</summary>
    public string WeightsPath => _files.Count == 1 ? _files[0].Path : Path.Combine(Folder, "model.safetensors.index.json");

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    /// <summary>Loads a tensor, checks its shape, converts it to <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    public Tensor Load(string name, long[] expectedShape, ScalarType dtype, Device device)
    {
        if (!_byTensor.TryGetValue(name, out var file))
            throw new ModelLoadException($"Tensor '{name}' is missing from the checkpoint", WeightsPath);
        var info = file.Tensors[name];
        if (!info.Shape.SequenceEqual(expectedShape))
            throw new ModelLoadException(
                $"Tensor '{name}' has shape [{string.Join(", ", info.Shape)}] but the config implies [{string.Join(", ", expectedShape)}]", file.Path);

        if (IsFloat(dtype) && !IsFloat(info.DType))
            throw new ModelLoadException($"Tensor '{name}' holds {info.DType} integers where float weights belong", file.Path);
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

    private static bool IsFloat(ScalarType t) => t is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64;

    /// <summary>Whether a stored dtype can hold weights (the engine computes in floating point).</summary>
    public static bool IsFloat(SafeTensorDType t) => t is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16;

    // Tensor.bytes takes a Span<byte>; it only reads from it.
    private static unsafe Span<byte> MemoryMarshalSpan(ReadOnlySpan<byte> span) =>
        System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(span), span.Length);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
