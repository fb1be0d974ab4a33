namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// A quantized weight expanded back to floats, row by row: what libtorch multiplies when a product has too many rows
/// for the decode kernels (prefill, scoring), and what a tied embedding looks up. The values are exactly those the
/// kernel's products stand for, so every path computes the same function.
/// </summary>
internal unsafe interface IDequantize
{
    int OutFeatures { get; }
    int InFeatures { get; }

    /// <summary>Writes row <paramref name="row"/> of the dequantized weight, <see cref="InFeatures"/> floats.</summary>
    void DequantizeRow(int row, float* destination);
}
