namespace LayerSkip.Engine.Skipping;

/// <summary>
/// Chooses the layer plan of a request for one model: the model's adapted plan when the request chooses none, else
/// <see cref="LayerPlanner"/> over the request (with defaults filling the gaps), with layer importance fetched only
/// for the Calibrated policy. It holds what it needs (the layer count, the adapted plan, a source of importance),
/// not the engine.
/// </summary>
internal sealed class PlanSource(int layerCount, LayerPlan? adaptedPlan, Func<CancellationToken, Task<LayerImportance>> importance)
{
    /// <summary>The plan the model was fine-tuned for (config.json), when it has one and the engine uses it.</summary>
    public LayerPlan? AdaptedPlan { get; } = adaptedPlan;

    public async Task<LayerPlan> CreateAsync(LayerSkipRequest request, LayerSkipRequest? defaults, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        // The model was fine-tuned for its adapted plan: that is the right default (full depth is now the worse choice).
        if (!request.ChoosesPlan && AdaptedPlan is { } adapted) return adapted;
        var resolved = request.Over(defaults);
        var policy = resolved.EffectivePolicy;
        var ratio = resolved.SpeedupRatio ?? 1.0;
        var seed = resolved.Seed ?? 0;
        if (policy != LayerPolicy.Calibrated) return LayerPlanner.Create(policy, ratio, layerCount, seed, resolved.Layers);
        LayerPlanner.KeptLayerCount(layerCount, ratio); // check the ratio before paying for calibration
        var scores = (await importance(cancellationToken).ConfigureAwait(false)).Scores;
        return LayerPlanner.Create(policy, ratio, layerCount, seed, resolved.Layers, scores);
    }
}
