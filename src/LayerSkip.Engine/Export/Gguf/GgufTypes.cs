namespace LayerSkip.Engine.Export.Gguf;

/// <summary>The type tags of GGUF metadata values (stored as a uint32 before each value).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9,
    UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>The ggml element types this exporter writes or reads back; the numbers are ggml's.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q8_0 = 8,
    BF16 = 30,
}

/// <summary>Sizes of ggml element types: elements per block and bytes per block.</summary>
public static class GgmlTypeInfo
{
    public static (int BlockElements, int BlockBytes) Block(GgmlType type) => type switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 or GgmlType.BF16 => (1, 2),
        GgmlType.Q8_0 => (32, 34), // one f16 scale, 32 int8
        GgmlType.Q4_0 => (32, 18), // one f16 scale, 32 packed nibbles
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown ggml type"),
    };

    /// <summary>Bytes of a tensor of <paramref name="elements"/> elements (rows must hold whole blocks).</summary>
    public static long ByteCount(GgmlType type, long elements)
    {
        var (n, bytes) = Block(type);
        if (elements % n != 0) throw new ArgumentException($"{elements} elements are not a whole number of {type} blocks of {n}.");
        return elements / n * bytes;
    }

    /// <summary>llama.cpp's <c>general.file_type</c> for a model whose matrices are all of <paramref name="type"/>.</summary>
    public static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q4_0 => 2,
        GgmlType.Q8_0 => 7,
        GgmlType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
