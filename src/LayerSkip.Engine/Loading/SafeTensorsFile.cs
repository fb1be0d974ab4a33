using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace LayerSkip.Engine.Loading;

/// <summary>Element types a safetensors file may hold that the engine reads.</summary>
public enum SafeTensorDType { F32, F16, BF16, I64, I32 }

/// <summary>Where one tensor lies in a safetensors file.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Offset, long Length)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));
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
        // Open the file itself: in a Hugging Face cache it is a symbolic link, whose own length says nothing.
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException($"safetensors file cannot be opened: {e.Message}", path, e);
        }
        var length = stream.Length;
        if (length < 8)
        {
            stream.Dispose();
            throw new ModelLoadException($"safetensors file is truncated: {length} bytes, too short for the 8-byte header length", path);
        }

        var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* ptr = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
        ptr += view.PointerOffset;
        try
        {
            var headerLength = *(ulong*)ptr; // safetensors is little-endian, as is every platform .NET runs on here
            if (headerLength == 0 || headerLength > (ulong)(length - 8) || headerLength > MaxHeaderBytes)
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

    /// <summary>The reference implementation's limit on the JSON header.</summary>
    public const int MaxHeaderBytes = 100_000_000;

    private static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(ReadOnlySpan<byte> header, long dataLength, string path)
    {
        if (!Utf8.IsValid(header))
            throw new ModelLoadException("safetensors header is not valid UTF-8 (corrupt file)", path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
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
                if (tensors.ContainsKey(prop.Name))
                    throw new ModelLoadException($"safetensors header names tensor '{Printable(prop.Name)}' twice", path);
                tensors[prop.Name] = ParseEntry(prop.Name, prop.Value, dataLength, path);
            }
            CheckCoverage(tensors.Values, dataLength, path);
            return (tensors, metadata);
        }
    }

    /// <summary>
    /// The format requires the tensors' byte ranges to tile the data region: in order, no overlap, no gap, nothing
    /// after the last. Overlapping ranges would load one tensor's bytes as another's.
    /// </summary>
    private static void CheckCoverage(IEnumerable<SafeTensorInfo> tensors, long dataLength, string path)
    {
        long end = 0;
        foreach (var t in tensors.OrderBy(t => t.Offset).ThenBy(t => t.Length))
        {
            if (t.Offset < end)
                throw new ModelLoadException($"tensor '{Printable(t.Name)}' at data_offsets [{t.Offset}, {t.Offset + t.Length}] overlaps the tensor before it (corrupt header)", path);
            if (t.Offset > end)
                throw new ModelLoadException($"the data bytes [{end}, {t.Offset}) before tensor '{Printable(t.Name)}' belong to no tensor (corrupt header)", path);
            end = t.Offset + t.Length;
        }
        if (end != dataLength)
            throw new ModelLoadException($"the tensors cover {end} of the {dataLength} data bytes (corrupt header or trailing data)", path);
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
                _ => throw new ModelLoadException($"tensor '{Printable(name)}' has unsupported dtype '{Printable(dtypeText ?? "null")}' (supported: F32, F16, BF16, I64, I32)", path),
            };
            var shapeElement = e.GetProperty("shape");
            if (shapeElement.GetArrayLength() > 8)
                throw new ModelLoadException($"tensor '{Printable(name)}' has {shapeElement.GetArrayLength()} dimensions", path);
            var shape = shapeElement.EnumerateArray().Select(x => x.GetInt64()).ToArray();
            if (shape.Any(d => d < 0))
                throw new ModelLoadException($"tensor '{Printable(name)}' has a negative dimension in shape [{string.Join(", ", shape)}]", path);
            var offsets = e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                throw new ModelLoadException($"tensor '{Printable(name)}' has data_offsets [{string.Join(", ", offsets)}] outside the {dataLength} data bytes (truncated or corrupt)", path);
            var info = new SafeTensorInfo(name, dtype, shape, offsets[0], offsets[1] - offsets[0]);
            var needed = checked(info.ElementCount * ElementSize(dtype));
            if (needed != info.Length)
                throw new ModelLoadException($"tensor '{Printable(name)}' of shape [{string.Join(", ", shape)}] {dtypeText} needs {needed} bytes but spans {info.Length}", path);
            return info;
        }
        catch (OverflowException)
        {
            throw new ModelLoadException($"tensor '{Printable(name)}' has a shape too large to address", path);
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ModelLoadException($"safetensors header entry '{Printable(name)}' is malformed: {ex.Message}", path, ex);
        }
    }

    /// <summary>A name from a file as an error message may show it: control characters escaped, length capped.</summary>
    internal static string Printable(string text)
    {
        var sb = new StringBuilder();
        foreach (var c in text.Length > 120 ? text[..120] : text)
            sb.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c);
        if (text.Length > 120) sb.Append('…');
        return sb.ToString();
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
