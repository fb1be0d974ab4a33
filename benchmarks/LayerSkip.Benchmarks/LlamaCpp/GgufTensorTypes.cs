using System.Text;
using LayerSkip.Engine.Export.Gguf;

namespace LayerSkip.Benchmarks.LlamaCpp;

/// <summary>
/// The element type of every tensor in a GGUF file, read from its header: what llama.cpp's quantizer actually chose
/// per matrix (its mixes keep some matrices at more bits, and rows that are not whole blocks fall back to another type).
/// </summary>
public static class GgufTensorTypes
{
    public static Dictionary<string, string> Read(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
        if (r.ReadUInt32() != GgufWriter.Magic) throw new InvalidDataException($"{path}: not a GGUF file.");
        r.ReadUInt32(); // version
        var tensors = r.ReadUInt64();
        var values = r.ReadUInt64();
        for (ulong i = 0; i < values; i++)
        {
            ReadString(r);
            Skip(r, (GgufValueType)r.ReadUInt32());
        }
        var types = new Dictionary<string, string>();
        for (ulong i = 0; i < tensors; i++)
        {
            var name = ReadString(r);
            var dims = r.ReadUInt32();
            for (var d = 0; d < dims; d++) r.ReadUInt64();
            types[name] = Name(r.ReadUInt32());
            r.ReadUInt64(); // offset
        }
        return types;
    }

    /// <summary>
    /// The matrices grouped by type, each with the kinds of matrix it holds ("Q4_0: attn_q, ffn_up; Q8_0: token_embd");
    /// a kind stored in several types (per layer) is listed under each. One-dimensional norms (F32) are left out.
    /// </summary>
    public static string Summary(string path)
    {
        var matrices = Read(path).Where(t => !t.Key.Contains("norm", StringComparison.Ordinal) && t.Key != "rope_freqs.weight");
        static string Kind(string name) => (name.StartsWith("blk.", StringComparison.Ordinal) ? name[(name.IndexOf('.', 4) + 1)..] : name).Replace(".weight", "");
        return string.Join("; ", matrices.GroupBy(t => t.Value).OrderBy(g => g.Key)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(t => Kind(t.Key)).Distinct().Order())}"));
    }

    /// <summary>ggml's type numbers (ggml.h) for the types llama.cpp's quantizer writes in the mixes used here.</summary>
    private static string Name(uint type) => type switch
    {
        0 => "F32", 1 => "F16", 2 => "Q4_0", 3 => "Q4_1", 6 => "Q5_0", 7 => "Q5_1", 8 => "Q8_0",
        10 => "Q2_K", 11 => "Q3_K", 12 => "Q4_K", 13 => "Q5_K", 14 => "Q6_K", 30 => "BF16",
        _ => $"type {type}",
    };

    private static string ReadString(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes(checked((int)r.ReadUInt64())));

    private static void Skip(BinaryReader r, GgufValueType type)
    {
        switch (type)
        {
            case GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool: r.ReadByte(); break;
            case GgufValueType.UInt16 or GgufValueType.Int16: r.ReadUInt16(); break;
            case GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32: r.ReadUInt32(); break;
            case GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64: r.ReadUInt64(); break;
            case GgufValueType.String: ReadString(r); break;
            case GgufValueType.Array:
                var element = (GgufValueType)r.ReadUInt32();
                var count = r.ReadUInt64();
                for (ulong i = 0; i < count; i++) Skip(r, element);
                break;
            default: throw new InvalidDataException($"unknown GGUF value type {type}");
        }
    }
}
