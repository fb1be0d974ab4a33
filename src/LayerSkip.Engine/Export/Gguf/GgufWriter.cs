using System.Text;

namespace LayerSkip.Engine.Export.Gguf;

/// <summary>
/// Writes a GGUF file (version 3): the header, typed metadata, the tensor table, then the tensor data, each tensor
/// starting at a multiple of <see cref="Alignment"/> from the start of the data section. Tensors are streamed one at a
/// time from callbacks, so a model larger than memory can be written.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;
    public const uint Version = 3;
    public const uint Alignment = 32;

    private readonly List<(string Key, GgufValueType Type, object Value)> _metadata = [];
    private readonly List<TensorEntry> _tensors = [];

    /// <param name="Shape">Row-major (outermost dimension first), as in PyTorch; written innermost first as ggml does.</param>
    private sealed record TensorEntry(string Name, long[] Shape, GgmlType Type, long ByteCount, Action<Stream> WriteData);

    public GgufWriter() => AddUInt32("general.alignment", Alignment);

    public IReadOnlyList<string> Keys => _metadata.Select(m => m.Key).ToList();

    public GgufWriter AddString(string key, string value) => Add(key, GgufValueType.String, value);
    public GgufWriter AddUInt32(string key, uint value) => Add(key, GgufValueType.UInt32, value);
    public GgufWriter AddInt32(string key, int value) => Add(key, GgufValueType.Int32, value);
    public GgufWriter AddFloat32(string key, float value) => Add(key, GgufValueType.Float32, value);
    public GgufWriter AddBool(string key, bool value) => Add(key, GgufValueType.Bool, value);
    public GgufWriter AddStrings(string key, IReadOnlyList<string> values) => Add(key, GgufValueType.Array, (GgufValueType.String, (object)values));
    public GgufWriter AddFloat32s(string key, IReadOnlyList<float> values) => Add(key, GgufValueType.Array, (GgufValueType.Float32, (object)values));
    public GgufWriter AddInt32s(string key, IReadOnlyList<int> values) => Add(key, GgufValueType.Array, (GgufValueType.Int32, (object)values));

    private GgufWriter Add(string key, GgufValueType type, object value)
    {
        if (_metadata.Any(m => m.Key == key)) throw new ArgumentException($"GGUF metadata key '{key}' is set twice.", nameof(key));
        _metadata.Add((key, type, value));
        return this;
    }

    /// <summary>Adds a tensor whose bytes <paramref name="writeData"/> writes when the file is written.</summary>
    public void AddTensor(string name, long[] shape, GgmlType type, Action<Stream> writeData)
    {
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"GGUF tensor '{name}' is added twice.", nameof(name));
        if (shape.Length is 0 or > 4 || shape.Any(d => d <= 0))
            throw new ArgumentException($"GGUF tensor '{name}' has shape [{string.Join(", ", shape)}]; ggml takes 1 to 4 positive dimensions.", nameof(shape));
        var (blockElements, _) = GgmlTypeInfo.Block(type);
        if (shape[^1] % blockElements != 0)
            throw new ArgumentException($"GGUF tensor '{name}': rows of {shape[^1]} elements are not whole {type} blocks of {blockElements}.", nameof(shape));
        var bytes = GgmlTypeInfo.ByteCount(type, shape.Aggregate(1L, (a, b) => a * b));
        _tensors.Add(new TensorEntry(name, shape, type, bytes, writeData));
    }

    /// <summary>Writes the file to a temporary name and moves it into place, so a failure leaves no half-written model.</summary>
    public void Write(string path)
    {
        var temporary = path + ".tmp";
        try
        {
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                Write(file);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    public void Write(Stream stream)
    {
        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true); // little-endian on every platform
        w.Write(Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, type, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)type);
            WriteValue(w, type, value);
        }

        var offsets = new long[_tensors.Count];
        long offset = 0;
        for (var i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            offsets[i] = offset;
            WriteString(w, t.Name);
            w.Write((uint)t.Shape.Length);
            for (var d = t.Shape.Length - 1; d >= 0; d--) w.Write((ulong)t.Shape[d]); // ggml: ne[0] is the innermost
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset = AlignUp(offset + t.ByteCount);
        }
        w.Flush();
        Pad(stream, AlignUp(stream.Position) - stream.Position);

        var dataStart = stream.Position;
        for (var i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            t.WriteData(stream);
            var written = stream.Position - dataStart - offsets[i];
            if (written != t.ByteCount)
                throw new InvalidOperationException($"GGUF tensor '{t.Name}' should have {t.ByteCount} bytes but its writer wrote {written}.");
            if (i + 1 < _tensors.Count) Pad(stream, offsets[i + 1] - (stream.Position - dataStart));
        }
    }

    private static long AlignUp(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream stream, long count)
    {
        for (var i = 0; i < count; i++) stream.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.UInt32: w.Write((uint)value); break;
            case GgufValueType.Int32: w.Write((int)value); break;
            case GgufValueType.Float32: w.Write((float)value); break;
            case GgufValueType.Bool: w.Write((bool)value ? (byte)1 : (byte)0); break;
            case GgufValueType.Array:
                var (elementType, items) = ((GgufValueType, object))value;
                w.Write((uint)elementType);
                switch (items)
                {
                    case IReadOnlyList<string> strings: w.Write((ulong)strings.Count); foreach (var s in strings) WriteString(w, s); break;
                    case IReadOnlyList<float> floats: w.Write((ulong)floats.Count); foreach (var f in floats) w.Write(f); break;
                    case IReadOnlyList<int> ints: w.Write((ulong)ints.Count); foreach (var n in ints) w.Write(n); break;
                    default: throw new InvalidOperationException($"unsupported GGUF array of {elementType}");
                }
                break;
            default: throw new InvalidOperationException($"unsupported GGUF value type {type}");
        }
    }
}
