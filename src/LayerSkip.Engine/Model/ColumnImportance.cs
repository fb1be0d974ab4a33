using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// How much each input column's weight error counts in the uncalibrated int4 fit (<see cref="Kernels.GroupFit"/>):
/// the square of the RMSNorm weight g_k that scales the column (input column k reaches the product multiplied by g_k),
/// or nothing (all columns alike) where no norm precedes the projection. Calibrated fits use the measured inputs
/// instead (see <see cref="GptqCalibration"/>).
/// </summary>
internal static class ColumnImportance
{
    /// <summary>
    /// A share of the mean added to every column, so none drops out of the fit: a zero norm weight would otherwise
    /// leave its column unfitted.
    /// </summary>
    private const float Floor = 0.01f;

    /// <summary>g_k² plus the floor for an RMSNorm weight g in front of the projection; null without one.</summary>
    public static float[]? FromNorm(Tensor? inputNorm)
    {
        if (inputNorm is null) return null;
        using var g = inputNorm.to(ScalarType.Float32, CPU);
        var values = g.data<float>().ToArray();
        var floor = Floor * values.Average(v => v * v);
        return values.Select(v => v * v + floor).ToArray();
    }
}
