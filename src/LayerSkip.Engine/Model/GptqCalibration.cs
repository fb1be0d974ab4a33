using LayerSkip.Engine.Model.Kernels;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Fits a model's int4 projections the GPTQ way (<see cref="Int4MatVec.QuantizeGptq"/>) on the input Gram matrices
/// measured by running calibration windows through the float model. The passes record a few layers at a time, as many
/// as <see cref="GramBudgetBytes"/> of Grams allow, and each group of layers is fitted before the next pass, so a large
/// model never holds all its Grams; each pass runs only its own layers, from the windows' hidden states where the
/// previous pass stopped (<see cref="WindowStates"/>), because every pass runs the float weights, which stay untouched
/// until the quantized model is built from the fitted kernels.
/// </summary>
internal static class GptqCalibration
{
    /// <summary>
    /// The float64 Gram matrices one pass may hold, at least one layer's (a Llama-3.2-1B layer needs about 0.6 GB, its
    /// down projection most). More passes cost no more forward work, so this only bounds memory.
    /// </summary>
    public const long GramBudgetBytes = 512L << 20;

    /// <summary>
    /// Kernels for every projection of <paramref name="model"/> (float, sharing the weights the quantized model will be
    /// built from) that <paramref name="quantization"/> stores as int4; int8 projections are left out (one symmetric
    /// scale per row: nothing to fit).
    /// </summary>
    public static FittedProjections Fit(DecoderModel model, IReadOnlyList<int[]> windows, WeightQuantization quantization,
        long gramBudgetBytes = GramBudgetBytes)
    {
        var layers = model.Config.NumLayers;
        var fitLayers = quantization.Format == WeightFormat.Int4 && layers > 0;
        var fitHead = quantization.Head == WeightFormat.Int4;
        var fitted = new FittedProjections();
        using var states = new WindowStates(windows.Count);
        try
        {
            if (fitLayers)
            {
                var perLayer = Kinds.Sum(k => GramBytes(model.Weights.Projection(0, k)));
                var step = (int)Math.Clamp(gramBudgetBytes / perLayer, 1, layers);
                // The LM head's Gram (hidden² entries, small) rides along with the last pass.
                for (var first = 0; first < layers; first += step)
                    FitPass(model, windows, first, Math.Min(layers, first + step), fitHead && first + step >= layers, quantization.GroupSize, states, fitted);
            }
            else if (fitHead) FitPass(model, windows, layers, layers, lmHead: true, quantization.GroupSize, states, fitted);
            return fitted;
        }
        catch
        {
            fitted.Dispose();
            throw;
        }
    }

    /// <summary>One pass over the windows recording layers [<paramref name="first"/>, <paramref name="end"/>) (and the LM head), then their fits.</summary>
    private static void FitPass(DecoderModel model, IReadOnlyList<int[]> windows, int first, int end, bool lmHead, int groupSize,
        WindowStates states, FittedProjections fitted)
    {
        using var grams = InputGrams.Measure(model, windows, first, end, lmHead, states);
        for (var l = first; l < end; l++)
            foreach (var kind in Kinds)
                fitted.Add(l, kind, FitOne(model.Weights.Projection(l, kind), grams.Take(l, kind)!, groupSize));
        if (lmHead) fitted.Add(-1, ProjectionKind.LmHead, FitOne(model.Weights.LmHead, grams.Take(-1, ProjectionKind.LmHead)!, groupSize));
    }

    private static readonly ProjectionKind[] Kinds = [ProjectionKind.Qkv, ProjectionKind.Output, ProjectionKind.GateUp, ProjectionKind.Down];

    private static long GramBytes(Tensor weight) => weight.shape[1] * weight.shape[1] * sizeof(double);

    /// <summary>
    /// The int4 kernel of a float32 copy of <paramref name="weight"/> fitted on <paramref name="gram"/>, which is
    /// disposed as soon as it is used; the weight is left as it is.
    /// </summary>
    internal static Int4MatVec FitOne(Tensor weight, Tensor gram, int groupSize)
    {
        Int4MatVec fitted;
        using (var feedback = ErrorFeedback.Compute(gram, disposeGram: true))
        using (no_grad())
        using (var copy = weight.to(ScalarType.Float32, CPU, copy: true))
        using (var contiguous = copy.contiguous())
            fitted = Int4MatVec.QuantizeGptq(contiguous, groupSize, feedback);
        NativeHeap.Trim();
        return fitted;
    }
}
