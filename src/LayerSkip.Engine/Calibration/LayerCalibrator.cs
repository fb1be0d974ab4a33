using LayerSkip.Engine.Model;
using LayerSkip.Engine.Progress;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Calibration;

/// <summary>
/// Measures how much each layer changes the hidden state on calibration text: the mean over positions of
/// 1 − cos(layer input, layer output). Layers that barely change it are the cheapest to skip.
/// </summary>
internal static class LayerCalibrator
{
    /// <summary>Mean change per layer; <paramref name="progress"/> counts windows measured.</summary>
    public static double[] Measure(DecoderModel model, IReadOnlyCollection<int[]> windows, IProgress<WorkProgress>? progress = null)
    {
        var sums = new double[model.Config.NumLayers];
        long positions = 0;
        var done = 0;
        foreach (var window in windows)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            using var cache = model.CreateCache(1, window.Length);
            model.Forward(tensor(window.Select(t => (long)t).ToArray(), [1, window.Length]), cache, observer: (layer, input, output) =>
            {
                var cos = nn.functional.cosine_similarity(input.to(ScalarType.Float32), output.to(ScalarType.Float32), dim: -1);
                sums[layer] += (1 - cos).sum().item<float>();
            });
            positions += window.Length;
            progress?.Report(new WorkProgress(++done, windows.Count));
        }
        if (positions == 0) throw new ArgumentException("Calibration needs at least one window of tokens.", nameof(windows));
        return sums.Select(s => s / positions).ToArray();
    }
}
