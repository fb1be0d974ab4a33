using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// One buffer a quantized model's projections share for their dequantized weights when a product goes to libtorch
/// (prefill, scoring). It holds the largest layer projection; a larger matrix (the LM head) is expanded in row chunks.
/// Allocated on first use, so a model that only decodes never pays for it. Single-threaded, like the model.
/// </summary>
internal sealed class DequantizationScratch : IDisposable
{
    private Tensor? _buffer;

    public ScalarType DType { get; }
    /// <summary>How many weight elements the buffer holds.</summary>
    public long Capacity { get; }
    /// <summary>Bytes currently allocated (0 until a product first needs it).</summary>
    public long Bytes => _buffer is null ? 0 : Capacity * _buffer.ElementSize;

    public DequantizationScratch(ScalarType dtype, long capacity)
    {
        DType = dtype;
        Capacity = Math.Max(1, capacity);
    }

    /// <summary>A [rows, cols] view of the buffer; its contents are whatever the previous user left.</summary>
    public Tensor Rows(long rows, long cols)
    {
        if (rows * cols > Capacity) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows}×{cols} exceeds the scratch's {Capacity} elements.");
        if (_buffer is null)
        {
            _buffer = empty(Capacity, DType);
            _buffer.DetachFromDisposeScope();
        }
        return _buffer.narrow(0, 0, rows * cols).view(rows, cols);
    }

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
