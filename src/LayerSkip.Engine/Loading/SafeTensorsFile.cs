using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;

namespace LayerSkip.Engine.Loading;

/// <summary>Element types a safetensors file may hold that the engine reads.</summary>
public enum SafeTensorDType { F32, F16, BF16, I64, I32 }

/// <summary>Where one tensor lies in a safetensors file.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Offset, long Length)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header mapping names to
/// dtype, shape and byte range, then the raw tensor bytes. Tensors are read straight from the mapping,
/// so opening a large checkpoint costs no copy until a tensor is asked for.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private bool _disposed;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr, long dataStart,
        Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path; _map = map; _view = view; _base = basePtr; _dataStart = dataStart; Tensors = tensors; Metadata = metadata;
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException("safetensors file not found", path);
        var length = new FileInfo(path).Length;
        if (length < 8) throw new ModelLoadException($"safetensors file is truncated: {length} bytes, too short for the 8-byte header length", path);

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* ptr = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
        ptr += view.PointerOffset;
        try
        {
            var headerLength = *(ulong*)ptr; // safetensors is little-endian, as is every platform .NET runs on here
            if (headerLength == 0 || headerLength > (ulong)(length - 8) || headerLength > 100_000_000)
                throw new ModelLoadException($"safetensors header length {headerLength} does not fit the file of {length} bytes (truncated or corrupt)", path);
            var dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = ParseHeader(new ReadOnlySpan<byte>(ptr + 8, (int)headerLength), length - dataStart, path);
            return new SafeTensorsFile(path, map, view, ptr, dataStart, tensors, metadata);
        }
        catch
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            map.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(ReadOnlySpan<byte> header, long dataLength, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"safetensors header is not valid JSON: {e.Message}", path, e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException("safetensors header is not a JSON object", path);
            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in prop.Value.EnumerateObject()) metadata[m.Name] = m.Value.ToString();
                    continue;
                }
                tensors[prop.Name] = ParseEntry(prop.Name, prop.Value, dataLength, path);
            }
            return (tensors, metadata);
        }
    }

    private static SafeTensorInfo ParseEntry(string name, JsonElement e, long dataLength, string path)
    {
        try
        {
            var dtypeText = e.GetProperty("dtype").GetString();
            var dtype = dtypeText switch
            {
                "F32" => SafeTensorDType.F32, "F16" => SafeTensorDType.F16, "BF16" => SafeTensorDType.BF16,
                "I64" => SafeTensorDType.I64, "I32" => SafeTensorDType.I32,
                _ => throw new ModelLoadException($"tensor '{name}' has unsupported dtype '{dtypeText}' (supported: F32, F16, BF16, I64, I32)", path),
            };
            var shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var offsets = e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                throw new ModelLoadException($"tensor '{name}' has data_offsets [{string.Join(", ", offsets)}] outside the {dataLength} data bytes (truncated or corrupt)", path);
            var info = new SafeTensorInfo(name, dtype, shape, offsets[0], offsets[1] - offsets[0]);
            if (info.ElementCount * ElementSize(dtype) != info.Length)
                throw new ModelLoadException($"tensor '{name}' of shape [{string.Join(", ", shape)}] {dtypeText} needs {info.ElementCount * ElementSize(dtype)} bytes but spans {info.Length}", path);
            return info;
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ModelLoadException($"safetensors header entry '{name}' is malformed: {ex.Message}", path, ex);
        }
    }

    public static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        SafeTensorDType.I64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>The raw little-endian bytes of a tensor, straight from the mapping (valid until disposal).</summary>
    public ReadOnlySpan<byte> GetBytes(SafeTensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (info.Length > int.MaxValue)
            throw new ModelLoadException($"tensor '{info.Name}' is larger than 2 GiB, which this reader does not support", Path);
        return new ReadOnlySpan<byte>(_base + _dataStart + info.Offset, (int)info.Length);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
