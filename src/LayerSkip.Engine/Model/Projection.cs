using LayerSkip.Engine.Model.Kernels;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerSkip.Engine.Model;

/// <summary>
/// A linear layer's weight [out, in] with two ways to apply it. A few rows without gradients on the CPU (decoding)
/// go through our own matrix-vector kernels, which stream the weight once at memory speed, quantized or not. Anything
/// else (prefill, training, other devices) goes through libtorch's <c>linear</c> on the float weight; a quantized
/// projection's float weight holds the dequantized values, so both ways compute the same function.
/// </summary>
public sealed class Projection : IDisposable
{
    /// <summary>
    /// Up to this many rows use the kernels; larger batches and prompts use libtorch's blocked GEMM. The environment
    /// variable LAYERSKIP_KERNEL_MAX_ROWS overrides it (a large value scores whole texts through the decode kernels,
    /// which is how the decode path's own quality is measured).
    /// </summary>
    public static int MaxKernelRows { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("LAYERSKIP_KERNEL_MAX_ROWS"), out var rows) && rows >= 0 ? rows : 4;

    private readonly IMatVec? _kernel;

    /// <summary>The float weight [out, in] (dequantized when quantized), owned by the model's weights.</summary>
    public Tensor Weight { get; }
    public WeightFormat Format { get; }
    /// <summary>Bytes one decode step reads for this projection.</summary>
    public long StreamedBytes => _kernel?.Bytes ?? Weight.NumberOfElements * Weight.ElementSize;

    private Projection(Tensor weight, IMatVec? kernel, WeightFormat format)
    {
        Weight = weight; _kernel = kernel; Format = format;
    }

    /// <summary>
    /// Prepares <paramref name="weight"/> for decoding; with quantization, quantizes it and overwrites it with its
    /// dequantized values. <paramref name="inputNorm"/> is the RMSNorm weight that scales this projection's input, if
    /// any: input column k reaches the product multiplied by g_k, so the int4 fit weighs that column's error by g_k².
    /// </summary>
    public static unsafe Projection Create(Tensor weight, WeightQuantization quantization, Tensor? inputNorm = null)
    {
        if (!DenseMatVec.Supports(weight))
        {
            if (quantization.Format != WeightFormat.None)
                throw new ArgumentException($"Weight quantization runs on CPU bfloat16/float32 weights, not {weight.dtype} on {weight.device}.");
            return new Projection(weight, null, WeightFormat.None);
        }
        if (quantization.Format == WeightFormat.None) return new Projection(weight, new DenseMatVec(weight), WeightFormat.None);

        using var _ = no_grad();
        using var f = weight.to(ScalarType.Float32, copy: true).contiguous();
        var data = (float*)TensorMemory.Pointer(f);
        int rows = (int)weight.shape[0], cols = (int)weight.shape[1];
        IMatVec kernel = quantization.Format == WeightFormat.Int8
            ? Int8MatVec.Quantize(data, rows, cols)
            : QuantizeInt4(data, rows, cols, quantization.GroupSize, inputNorm);
        weight.copy_(f);
        return new Projection(weight, kernel, quantization.Format);
    }

    private static unsafe Int4MatVec QuantizeInt4(float* data, int rows, int cols, int groupSize, Tensor? inputNorm)
    {
        if (inputNorm is null || inputNorm.NumberOfElements != cols) return Int4MatVec.Quantize(data, rows, cols, groupSize);
        var g = inputNorm.to(ScalarType.Float32).data<float>().ToArray();
        // A small floor keeps every column in the fit (a zero norm weight would otherwise drop it).
        var floor = 0.01f * g.Average(v => v * v);
        var importance = g.Select(v => v * v + floor).ToArray();
        fixed (float* c = importance) return Int4MatVec.Quantize(data, rows, cols, groupSize, c);
    }

    public Tensor Apply(Tensor x, Tensor? bias = null) => Apply(x, bias, 0, Weight.shape[0]);

    /// <summary>x · W[rowStart .. rowStart + rowCount)ᵀ (+ the same rows of bias).</summary>
    public unsafe Tensor Apply(Tensor x, Tensor? bias, long rowStart, long rowCount)
    {
        var inFeatures = x.shape[^1];
        var rows = x.NumberOfElements / inFeatures;
        var whole = rowStart == 0 && rowCount == Weight.shape[0];
        if (_kernel is null || rows > MaxKernelRows || x.device_type != DeviceType.CPU ||
            (is_grad_enabled() && (x.requires_grad || Weight.requires_grad)))
            return whole ? F.linear(x, Weight, bias) : F.linear(x, Weight.narrow(0, rowStart, rowCount), bias?.narrow(0, rowStart, rowCount));

        var xf = x.to(ScalarType.Float32).reshape(rows, inFeatures).contiguous();
        var y = empty([rows, rowCount], ScalarType.Float32);
        _kernel.Multiply((float*)TensorMemory.Pointer(xf), (int)rows, (float*)TensorMemory.Pointer(y), (int)rowStart, (int)rowCount,
            RowParallel.Shared(get_num_threads()));
        if (bias is not null) y.add_(whole ? bias : bias.narrow(0, rowStart, rowCount));
        var shape = x.shape.ToArray();
        shape[^1] = rowCount;
        var result = y.view(shape);
        return result.dtype == x.dtype ? result : result.to(x.dtype);
    }

    /// <summary>Frees the kernel's packed copy; the float weight belongs to the model's weights.</summary>
    public void Dispose() => _kernel?.Dispose();
}
