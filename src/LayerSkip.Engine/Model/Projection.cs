using LayerSkip.Engine.Model.Kernels;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerSkip.Engine.Model;

/// <summary>
/// A linear layer's weight [out, in] with two ways to apply it. A few rows without gradients on the CPU (decoding)
/// go through our own matrix-vector kernels, which stream the weight once at memory speed, quantized or not. Anything
/// else (prefill, training, other devices) goes through libtorch's <c>linear</c>: on the float weight, or, for a
/// quantized projection that gave its float weight up, on its dequantized values expanded into a shared scratch
/// buffer. Either way both paths compute the same function.
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
    private readonly Tensor? _weight;
    private readonly DequantizationScratch? _scratch;

    /// <summary>The decode kernel, or null where libtorch's <c>linear</c> is the only way (other devices, dtypes).</summary>
    internal IMatVec? Kernel => _kernel;

    /// <summary>The float weight [out, in] (dequantized when quantized), owned by the model's weights.</summary>
    /// <exception cref="InvalidOperationException">A quantized model freed it; only the packed weight remains.</exception>
    public Tensor Weight => _weight ?? throw new InvalidOperationException(
        $"This {Format.ToString().ToLowerInvariant()} projection's float weight was freed when the model was quantized; " +
        "only its packed weight remains (dequantize it, or load the model without quantization).");
    public WeightFormat Format { get; }
    internal long OutFeatures { get; }
    internal long InFeatures { get; }
    /// <summary>Whether the float weight is still held (false for a quantized model's projections).</summary>
    internal bool HoldsFloatWeight => _weight is not null;
    /// <summary>Bytes one decode step reads for this projection.</summary>
    public long StreamedBytes => _kernel?.Bytes ?? OutFeatures * InFeatures * _weight!.ElementSize;
    /// <summary>Bytes of packed quantized data this projection owns beside any float weight.</summary>
    internal long PackedBytes => _kernel is IDequantize ? _kernel.Bytes : 0;

    private Projection(Tensor weight, IMatVec? kernel, WeightFormat format, DequantizationScratch? scratch)
    {
        _kernel = kernel; Format = format; _scratch = scratch;
        _weight = scratch is null ? weight : null;
        OutFeatures = weight.shape[0];
        InFeatures = weight.shape[1];
    }

    /// <summary>
    /// Prepares <paramref name="weight"/> for decoding. With quantization and no <paramref name="freeInto"/>, quantizes
    /// it and overwrites it with its dequantized values (the float weight stays usable). With
    /// <paramref name="freeInto"/>, the projection keeps only the packed weight: the caller may dispose
    /// <paramref name="weight"/>, and products with many rows expand the weight into that shared scratch.
    /// <paramref name="importance"/> (one per input column, or null for all alike) weighs each column's squared error
    /// in the int4 fit; see <see cref="ColumnImportance"/>. <paramref name="fitted"/>, if given, is this weight's kernel
    /// already fitted on calibration text (see <see cref="GptqCalibration"/>): it is used instead of quantizing here,
    /// and the projection owns it.
    /// </summary>
    internal static Projection Create(Tensor weight, WeightQuantization quantization, float[]? importance, DequantizationScratch? freeInto,
        IMatVec? fitted = null)
    {
        if (fitted is not null && (fitted.OutFeatures != weight.shape[0] || fitted.InFeatures != weight.shape[1] || quantization.Format != WeightFormat.Int4))
            throw new ArgumentException($"A fitted kernel [{fitted.OutFeatures}, {fitted.InFeatures}] for an {quantization.Format} weight [{weight.shape[0]}, {weight.shape[1]}].", nameof(fitted));
        if (!DenseMatVec.Supports(weight))
        {
            if (quantization.Format != WeightFormat.None)
                throw new ArgumentException($"Weight quantization runs on CPU bfloat16/float32 weights, not {weight.dtype} on {weight.device}.");
            return new Projection(weight, null, WeightFormat.None, null);
        }
        if (quantization.Format == WeightFormat.None) return new Projection(weight, new DenseMatVec(weight), WeightFormat.None, null);
        if (freeInto is not null && freeInto.DType != weight.dtype)
            throw new ArgumentException($"The scratch holds {freeInto.DType}, the weight is {weight.dtype}.", nameof(freeInto));

        var kernel = fitted is null ? Quantize(weight, quantization, importance, writeBack: freeInto is null) : Adopt(weight, fitted, writeBack: freeInto is null);
        return new Projection(weight, kernel, quantization.Format, freeInto);
    }

    /// <summary>
    /// Quantizes a float32 copy of <paramref name="weight"/>; with <paramref name="writeBack"/>, overwrites the weight
    /// with the dequantized values so libtorch computes the same function as the kernel.
    /// </summary>
    private static unsafe IMatVec Quantize(Tensor weight, WeightQuantization quantization, float[]? importance, bool writeBack)
    {
        if (importance is not null && importance.Length != weight.shape[1])
            throw new ArgumentException($"{importance.Length} column importances for a weight of {weight.shape[1]} columns.", nameof(importance));
        using var _ = no_grad();
        // Both wrappers disposed here: an undisposed one would keep the float32 copy alive until a finalizer runs.
        using var copy = weight.to(ScalarType.Float32, copy: true);
        using var f = copy.contiguous();
        var data = (float*)TensorMemory.Pointer(f);
        int rows = (int)weight.shape[0], cols = (int)weight.shape[1];
        IMatVec kernel;
        if (quantization.Format == WeightFormat.Int8) kernel = Int8MatVec.Quantize(data, rows, cols);
        else
            fixed (float* c = importance) kernel = Int4MatVec.Quantize(data, rows, cols, quantization.GroupSize, c);
        if (writeBack) weight.copy_(f);
        return kernel;
    }

    /// <summary>With <paramref name="writeBack"/>, overwrites <paramref name="weight"/> with <paramref name="fitted"/>'s dequantized values.</summary>
    private static unsafe IMatVec Adopt(Tensor weight, IMatVec fitted, bool writeBack)
    {
        if (!writeBack) return fitted;
        using var _ = no_grad();
        using var f = zeros(weight.shape[0], weight.shape[1], ScalarType.Float32);
        var data = (float*)TensorMemory.Pointer(f);
        var rows = (IDequantize)fitted;
        for (var n = 0; n < fitted.OutFeatures; n++) rows.DequantizeRow(n, data + (long)n * fitted.InFeatures);
        weight.copy_(f);
        return fitted;
    }

    /// <summary>
    /// Prepares <paramref name="weight"/> for decoding: with quantization, quantizes it and overwrites it with its
    /// dequantized values. <paramref name="inputNorm"/> is the RMSNorm weight that scales this projection's input, if
    /// any: input column k reaches the product multiplied by g_k, so the int4 fit weighs that column's error by g_k².
    /// </summary>
    public static Projection Create(Tensor weight, WeightQuantization quantization, Tensor? inputNorm = null) =>
        Create(weight, quantization, ColumnImportance.FromNorm(inputNorm), null);

    public Tensor Apply(Tensor x) => Apply(x, null, 0, OutFeatures);

    public Tensor Apply(Tensor x, Tensor? bias) => Apply(x, bias, 0, OutFeatures);

    /// <summary>
    /// A quantized copy of <paramref name="weight"/> for drafting (speculative decoding at a lower precision). Unlike
    /// <see cref="Create(Tensor, WeightQuantization, Tensor?)"/>, the float weight is left as it is: the model keeps computing with it, and the copy is
    /// extra memory, used only by <see cref="ApplyDraft"/>.
    /// </summary>
    internal static IMatVec QuantizedCopy(Tensor weight, WeightQuantization quantization, Tensor? inputNorm = null)
    {
        if (!DenseMatVec.Supports(weight) || quantization.Format == WeightFormat.None)
            throw new ArgumentException($"A draft copy quantizes CPU bfloat16/float32 weights to int8 or int4, not {weight.dtype} on {weight.device} to {quantization}.");
        return Quantize(weight, quantization, ColumnImportance.FromNorm(inputNorm), writeBack: false);
    }

    /// <summary>
    /// Applies a draft copy made by <see cref="QuantizedCopy"/> instead of this projection's own weights, at any number
    /// of rows (the draft exists to read fewer bytes); falls back to <see cref="Apply(Tensor, Tensor?)"/> where the
    /// kernels don't run (other devices, gradients).
    /// </summary>
    internal Tensor ApplyDraft(IMatVec draft, Tensor x, Tensor? bias = null)
    {
        if (x.device_type != DeviceType.CPU || (is_grad_enabled() && x.requires_grad)) return Apply(x, bias);
        return Multiply(draft, x, bias, 0, OutFeatures);
    }

    /// <summary>
    /// x · Wᵀ computed row by row exactly as one-row decode steps compute it (through the kernel at any number of rows),
    /// so a verification pass over several positions gives the values the steps would have given.
    /// </summary>
    internal Tensor ApplyRowwise(Tensor x, Tensor? bias = null) => _kernel is null ? Apply(x, bias) : ApplyDraft(_kernel, x, bias);

    /// <summary>x · W[rowStart .. rowStart + rowCount)ᵀ (+ the same rows of bias).</summary>
    public Tensor Apply(Tensor x, Tensor? bias, long rowStart, long rowCount)
    {
        var inFeatures = x.shape[^1];
        var rows = x.NumberOfElements / inFeatures;
        if (_kernel is null || rows > MaxKernelRows || x.device_type != DeviceType.CPU ||
            (is_grad_enabled() && (x.requires_grad || _weight is { requires_grad: true })))
            return Linear(x, bias, rowStart, rowCount);
        return Multiply(_kernel, x, bias, rowStart, rowCount);
    }

    private static unsafe Tensor Multiply(IMatVec kernel, Tensor x, Tensor? bias, long rowStart, long rowCount)
    {
        var inFeatures = x.shape[^1];
        var rows = x.NumberOfElements / inFeatures;
        var xf = x.to(ScalarType.Float32).reshape(rows, inFeatures).contiguous();
        var y = empty([rows, rowCount], ScalarType.Float32);
        kernel.Multiply((float*)TensorMemory.Pointer(xf), (int)rows, (float*)TensorMemory.Pointer(y), (int)rowStart, (int)rowCount,
            RowParallel.Shared(get_num_threads()));
        if (bias is not null) y.add_(rowStart == 0 && rowCount == kernel.OutFeatures ? bias : bias.narrow(0, rowStart, rowCount), LiveScalars.One);
        var shape = x.shape.ToArray();
        shape[^1] = rowCount;
        var result = y.view(shape);
        return result.dtype == x.dtype ? result : result.to(x.dtype);
    }

    /// <summary>libtorch's <c>linear</c> on the float weight, or on the dequantized weight when it was freed.</summary>
    private Tensor Linear(Tensor x, Tensor? bias, long rowStart, long rowCount)
    {
        if (_weight is not null) return F.linear(x, Narrow(_weight, rowStart, rowCount), bias is null ? null : Narrow(bias, rowStart, rowCount));

        // Autograd keeps the weight for the backward pass, so a product with gradients gets a weight of its own.
        if (is_grad_enabled() && x.requires_grad)
            return F.linear(x, Dequantize(rowStart, rowCount), bias is null ? null : Narrow(bias, rowStart, rowCount));

        // Expand as many rows as the scratch holds at a time; only the LM head ever needs more than one chunk.
        var scratch = _scratch!;
        var chunkRows = Math.Max(1, scratch.Capacity / InFeatures);
        var parts = new List<Tensor>();
        for (var start = rowStart; start < rowStart + rowCount; start += chunkRows)
        {
            var count = Math.Min(chunkRows, rowStart + rowCount - start);
            var w = scratch.Rows(count, InFeatures);
            DequantizeInto(start, w);
            parts.Add(F.linear(x, w, bias is null ? null : bias.narrow(0, start, count)));
        }
        return parts.Count == 1 ? parts[0] : cat(parts, -1);
    }

    private Tensor Narrow(Tensor t, long rowStart, long rowCount) =>
        rowStart == 0 && rowCount == OutFeatures ? t : t.narrow(0, rowStart, rowCount);

    /// <summary>
    /// Rows [rowStart, rowStart + rowCount) of the weight as a new tensor [rowCount, in] in the compute dtype: a copy
    /// of the float weight, or the dequantized values of a quantized projection.
    /// </summary>
    internal Tensor Dequantize(long rowStart, long rowCount)
    {
        if (_weight is not null) return Narrow(_weight, rowStart, rowCount).clone();
        var w = empty([rowCount, InFeatures], _scratch!.DType);
        DequantizeInto(rowStart, w);
        return w;
    }

    /// <summary>The weight's rows <paramref name="ids"/> (a tied embedding's lookup), [ids, in] in the compute dtype.</summary>
    internal Tensor Rows(Tensor ids)
    {
        if (_weight is not null) return _weight.index_select(0, ids);
        var host = ids.to(ScalarType.Int64, CPU).contiguous().data<long>().ToArray();
        var rows = empty([host.Length, InFeatures], _scratch!.DType);
        Dequantization.Gather((IDequantize)_kernel!, host, rows);
        return rows;
    }

    private void DequantizeInto(long rowStart, Tensor destination) =>
        Dequantization.Rows((IDequantize)_kernel!, (int)rowStart, destination, RowParallel.Shared(get_num_threads()));

    /// <summary>Frees the kernel's packed copy; the float weight belongs to the model's weights.</summary>
    public void Dispose() => _kernel?.Dispose();
}
