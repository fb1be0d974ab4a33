using System.Text;
using System.Text.Json.Nodes;

namespace LayerSkip.Engine.Loading;

/// <summary>Writes tensors (given as raw little-endian bytes) into one safetensors file.</summary>
internal static class SafeTensorsWriter
{
    public sealed record Entry(string Name, SafeTensorDType DType, long[] Shape, byte[] Data);

    public static void Write(string path, IEnumerable<Entry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = entries.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        long offset = 0;
        foreach (var e in list)
        {
            var expected = e.Shape.Aggregate(1L, (a, b) => a * b) * SafeTensorsFile.ElementSize(e.DType);
            if (expected != e.Data.Length)
                throw new ArgumentException($"Tensor '{e.Name}' has {e.Data.Length} bytes but its shape needs {expected}.");
            header[e.Name] = new JsonObject
            {
                ["dtype"] = e.DType.ToString(),
                ["shape"] = new JsonArray(e.Shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + e.Data.Length),
            };
            offset += e.Data.Length;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Pad the header with spaces to an 8-byte boundary, as the reference writer does, so tensors stay aligned.
        var padded = (headerBytes.Length + 7) / 8 * 8;
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)padded));
        stream.Write(headerBytes);
        for (var i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var e in list) stream.Write(e.Data);
    }

    public static Entry F32(string name, float[] values, params long[] shape)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return new Entry(name, SafeTensorDType.F32, shape, bytes);
    }
}
