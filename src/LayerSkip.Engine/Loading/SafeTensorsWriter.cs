using System.Text;
using System.Text.Json.Nodes;

namespace LayerSkip.Engine.Loading;

/// <summary>Writes tensors (given as raw little-endian bytes) into one safetensors file.</summary>
internal static class SafeTensorsWriter
{
    public sealed record Entry(string Name, SafeTensorDType DType, long[] Shape, byte[] Data);

    /// <summary>What the header says of one tensor; its bytes come later.</summary>
    public sealed record Header(string Name, SafeTensorDType DType, long[] Shape)
    {
        public long ByteCount => Shape.Aggregate(1L, (a, b) => a * b) * SafeTensorsFile.ElementSize(DType);
    }

    public static void Write(string path, IEnumerable<Entry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = entries.ToList();
        foreach (var e in list)
            if (new Header(e.Name, e.DType, e.Shape).ByteCount != e.Data.Length)
                throw new ArgumentException($"Tensor '{e.Name}' has {e.Data.Length} bytes but its shape needs {new Header(e.Name, e.DType, e.Shape).ByteCount}.");
        Write(path, list.Select(e => new Header(e.Name, e.DType, e.Shape)).ToList(), (i, s) => s.Write(list[i].Data), metadata);
    }

    /// <summary>
    /// Streams tensors into the file: <paramref name="writeData"/> writes tensor i's bytes when its turn comes, so a
    /// checkpoint larger than memory can be written one tensor at a time.
    /// </summary>
    public static void Write(string path, IReadOnlyList<Header> tensors, Action<int, Stream> writeData, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        long offset = 0;
        foreach (var t in tensors)
        {
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType.ToString(),
                ["shape"] = new JsonArray(t.Shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.ByteCount),
            };
            offset += t.ByteCount;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Pad the header with spaces to an 8-byte boundary, as the reference writer does, so tensors stay aligned.
        var padded = (headerBytes.Length + 7) / 8 * 8;
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        stream.Write(BitConverter.GetBytes((ulong)padded));
        stream.Write(headerBytes);
        for (var i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
        var dataStart = stream.Position;
        long expected = 0;
        for (var i = 0; i < tensors.Count; i++)
        {
            writeData(i, stream);
            expected += tensors[i].ByteCount;
            if (stream.Position - dataStart != expected)
                throw new InvalidOperationException($"Tensor '{tensors[i].Name}' should have {tensors[i].ByteCount} bytes but its writer wrote {stream.Position - dataStart - expected + tensors[i].ByteCount}.");
        }
    }

    public static Entry F32(string name, float[] values, params long[] shape)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return new Entry(name, SafeTensorDType.F32, shape, bytes);
    }
}
