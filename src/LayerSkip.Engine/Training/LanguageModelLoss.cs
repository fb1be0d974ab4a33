using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerSkip.Engine.Training;

/// <summary>Next-token cross-entropy through the engine's own <see cref="DecoderModel.Forward"/>, with gradients.</summary>
public static class LanguageModelLoss
{
    /// <summary>Mean next-token loss over every position of equal-length <paramref name="windows"/> (full depth, or routed).</summary>
    public static MicroBatchLoss NextToken(DecoderModel model, IReadOnlyList<int[]> windows, ILayerRouter? router = null)
    {
        var (b, n) = (windows.Count, windows[0].Length);
        var ids = Ids(windows, 0, n).to(model.Device);
        var input = ids.narrow(1, 0, n - 1);
        var targets = ids.narrow(1, 1, n - 1);
        using var cache = model.CreateCache(b, n - 1);
        var logits = model.Forward(input, cache, lastPositionOnly: false, router: router);
        var loss = F.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1));
        return new MicroBatchLoss(loss, (long)b * (n - 1));
    }

    /// <summary>
    /// The skip-aware loss (Liu, Meng, Zhou 2024), in exactly <see cref="Evaluation.TeacherForcedScorer"/>'s layout: the
    /// first <paramref name="promptTokens"/> positions of each window run every layer (prefill), the cache of the layers the
    /// plan skips is dropped, and the rest run only the plan's layers, attending to the full-depth prompt cache. The loss is
    /// the mean over the predictions the response positions make; gradients reach every layer through the prompt's keys
    /// and values as well.
    /// </summary>
    public static MicroBatchLoss SkipAware(DecoderModel model, IReadOnlyList<int[]> windows, int promptTokens, LayerPlan plan)
    {
        var (b, n) = (windows.Count, windows[0].Length);
        if (promptTokens < 1 || promptTokens > n - 2)
            throw new ArgumentOutOfRangeException(nameof(promptTokens), $"A window of {n} tokens needs 1..{n - 2} prompt tokens.");
        var ids = Ids(windows, 0, n).to(model.Device);
        var prompt = ids.narrow(1, 0, promptTokens);
        var responseInput = ids.narrow(1, promptTokens, n - 1 - promptTokens);
        var targets = ids.narrow(1, promptTokens + 1, n - 1 - promptTokens);
        // Capacity exactly the prompt: the response pass grows the cache into new tensors (a copy) instead of writing in
        // place into tensors the prompt's backward pass still needs.
        using var cache = model.CreateCache(b, promptTokens);
        model.Forward(prompt, cache, lastPositionOnly: true);
        cache.KeepOnly(plan);
        var logits = model.Forward(responseInput, cache, plan, lastPositionOnly: false);
        var loss = F.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1));
        return new MicroBatchLoss(loss, (long)b * (n - 1 - promptTokens));
    }

    private static Tensor Ids(IReadOnlyList<int[]> windows, int start, int length)
    {
        var n = windows[0].Length;
        if (windows.Any(w => w.Length != n)) throw new ArgumentException("All windows of a micro-batch must have the same length.", nameof(windows));
        var flat = new long[windows.Count * length];
        for (var r = 0; r < windows.Count; r++)
            for (var j = 0; j < length; j++) flat[r * length + j] = windows[r][start + j];
        return tensor(flat, [windows.Count, length], ScalarType.Int64);
    }
}
