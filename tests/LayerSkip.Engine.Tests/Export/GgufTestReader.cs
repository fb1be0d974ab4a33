using System.Text;
using LayerSkip.Engine.Export.Gguf;

namespace LayerSkip.Engine.Tests.Export;

/// <summary>
/// A minimal GGUF reader written from the format description, independent of the writer: it checks the layout
/// rules (magic, version, alignment of the data section and of each tensor) and hands back metadata and tensor bytes.
/// </summary>
internal sealed class GgufTestReader
{
    public sealed record TensorInfo(string Name, long[] Dims, GgmlType Type, long Offset);

    public uint Version { get; }
    public Dictionary<string, object> Metadata { get; } = new();
    public List<TensorInfo> Tensors { get; } = [];
    public long DataStart { get; }
    private readonly byte[] _bytes;

    public GgufTestReader(string path)
    {
        _bytes = File.ReadAllBytes(path);
        using var r = new BinaryReader(new MemoryStream(_bytes));
        Assert.Equal("GGUF", Encoding.ASCII.GetString(r.ReadBytes(4)));
        Version = r.ReadUInt32();
        var tensorCount = r.ReadUInt64();
        var kvCount = r.ReadUInt64();
        for (ulong i = 0; i < kvCount; i++)
        {
            var key = ReadString(r);
            Metadata.Add(key, ReadValue(r, (GgufValueType)r.ReadUInt32()));
        }
        for (ulong i = 0; i < tensorCount; i++)
        {
            var name = ReadString(r);
            var dims = new long[r.ReadUInt32()];
            for (var d = 0; d < dims.Length; d++) dims[d] = (long)r.ReadUInt64();
            Tensors.Add(new TensorInfo(name, dims, (GgmlType)r.ReadUInt32(), (long)r.ReadUInt64()));
        }
        var alignment = Metadata.TryGetValue("general.alignment", out var a) ? (uint)a : 32u;
        DataStart = (r.BaseStream.Position + alignment - 1) / alignment * alignment;
        foreach (var t in Tensors) Assert.True(t.Offset % alignment == 0, $"tensor {t.Name} at offset {t.Offset} is not aligned to {alignment}");
    }

    public T Get<T>(string key) => (T)Metadata[key];

    public TensorInfo Tensor(string name) => Tensors.Single(t => t.Name == name);

    public ReadOnlySpan<byte> Data(string name)
    {
        var t = Tensor(name);
        var elements = t.Dims.Aggregate(1L, (x, y) => x * y);
        var bytes = t.Type switch { GgmlType.F32 => 4 * elements, GgmlType.F16 or GgmlType.BF16 => 2 * elements, _ => throw new NotSupportedException() };
        return _bytes.AsSpan((int)(DataStart + t.Offset), (int)bytes);
    }

    public float[] Floats(string name) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Data(name)).ToArray();

    private static string ReadString(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes(checked((int)r.ReadUInt64())));

    private static object ReadValue(BinaryReader r, GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => r.ReadByte(),
        GgufValueType.Int8 => r.ReadSByte(),
        GgufValueType.UInt16 => r.ReadUInt16(),
        GgufValueType.Int16 => r.ReadInt16(),
        GgufValueType.UInt32 => r.ReadUInt32(),
        GgufValueType.Int32 => r.ReadInt32(),
        GgufValueType.Float32 => r.ReadSingle(),
        GgufValueType.Bool => r.ReadByte() switch { 0 => false, 1 => true, var b => throw new InvalidDataException($"bool byte {b}") },
        GgufValueType.String => ReadString(r),
        GgufValueType.UInt64 => r.ReadUInt64(),
        GgufValueType.Int64 => r.ReadInt64(),
        GgufValueType.Float64 => r.ReadDouble(),
        GgufValueType.Array => ReadArray(r),
        _ => throw new InvalidDataException($"unknown GGUF value type {type}"),
    };

    private static object[] ReadArray(BinaryReader r)
    {
        var elementType = (GgufValueType)r.ReadUInt32();
        var items = new object[checked((int)r.ReadUInt64())];
        for (var i = 0; i < items.Length; i++) items[i] = ReadValue(r, elementType);
        return items;
    }
}
