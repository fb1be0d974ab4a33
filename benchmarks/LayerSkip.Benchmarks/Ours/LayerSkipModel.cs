using System.Diagnostics;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using static TorchSharp.torch;

namespace LayerSkip.Benchmarks.Ours;

/// <summary>
/// Our engine's decoder loaded from a Hugging Face folder, timed the same way as <see cref="LlamaCpp.LlamaCppModel"/>:
/// batch 1, token ids in, greedy argmax out. All calls must come from one thread (TorchSharp's dispose scopes are per thread).
/// </summary>
public sealed class LayerSkipModel : IDisposable
{
    private readonly DecoderModel _model;

    private LayerSkipModel(DecoderModel model) => _model = model;

    public int LayerCount => _model.Config.NumLayers;

    /// <param name="weights">How the weights are held; see <see cref="OurWeights"/>.</param>
    /// <param name="calibration">Token windows the float model runs to calibrate the int4 fit (for <see cref="OurWeights.Calibrated"/> weights).</param>
    public static LayerSkipModel Load(string folder, OurWeights weights, int maxSequenceLength, IReadOnlyList<int[]>? calibration = null)
    {
        if (weights.Calibrated && calibration is null)
            throw new ArgumentException($"'{weights.Name}' is calibrated: give the calibration windows.", nameof(calibration));
        return new LayerSkipModel(DecoderModel.Load(folder, weights.DType, CPU, maxSequenceLength, weights.ToQuantization(),
            weights.Calibrated ? calibration : null));
    }

    /// <summary>Weight bytes one decode step of <paramref name="plan"/> reads (its layers' projections and the LM head).</summary>
    public long StreamedBytes(LayerPlan plan) => _model.StreamedBytes(plan);

    public LayerPlan Plan(double speedup) =>
        speedup <= 1 ? LayerPlan.Full(LayerCount) : LayerPlanner.Create(LayerPolicy.Unified, speedup, LayerCount);

    /// <summary>Tokens per second of <paramref name="prompt"/> run in one forward pass from an empty cache.</summary>
    public double TimePrefill(int[] prompt)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var cache = _model.CreateCache(1, prompt.Length + 1);
        var input = Ids(prompt);
        var clock = Stopwatch.StartNew();
        _model.Forward(input, cache).argmax(-1).item<long>();
        return prompt.Length / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Greedy tokens per second over <paramref name="steps"/> steps of <paramref name="plan"/> after a full-depth prefill and one untimed step.</summary>
    public double TimeDecode(int[] prompt, int steps, LayerPlan plan)
    {
        using var _ = no_grad();
        using var cache = _model.CreateCache(1, prompt.Length + steps + 2);
        var token = Step(Ids(prompt), cache, null);
        if (!plan.IsFullDepth) cache.KeepOnly(plan);
        var run = plan.IsFullDepth ? null : plan;
        token = Step(Ids([token]), cache, run); // warm-up
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++) token = Step(Ids([token]), cache, run);
        return steps / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Teacher-forced nats per token over <paramref name="windows"/> (the engine's own scorer, as the <c>perplexity</c>
    /// command runs it): under a plan, each window's first <paramref name="contextTokens"/> positions run every layer.
    /// </summary>
    public double NatsPerToken(IReadOnlyList<int[]> windows, LayerPlan plan, int contextTokens, out int tokens) =>
        QualityReport.NatsPerToken(_model, windows, plan.IsFullDepth ? null : plan, contextTokens, out tokens);

    /// <summary>Greedy continuation of <paramref name="prompt"/> at full depth.</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int count)
    {
        using var _ = no_grad();
        using var cache = _model.CreateCache(1, prompt.Count + count + 1);
        var output = new List<int>(count);
        var token = Step(Ids(prompt.ToArray()), cache, null);
        for (var i = 0; i < count; i++)
        {
            output.Add(token);
            if (i + 1 < count) token = Step(Ids([token]), cache, null);
        }
        return output;
    }

    private Tensor Ids(int[] ids) => tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length], device: _model.Device);

    private int Step(Tensor input, KvCache cache, LayerPlan? plan)
    {
        using var scope = NewDisposeScope();
        using (input) return (int)_model.Forward(input, cache, plan).argmax(-1).item<long>();
    }

    public void Dispose() => _model.Dispose();
}
