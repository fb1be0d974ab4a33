using LayerSkip.Engine.Progress;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Training.Routing;

/// <summary>Settings of router training beyond the optimiser's.</summary>
public sealed record RouterTrainingOptions
{
    /// <summary>Target execution rate of every layer.</summary>
    public double Budget { get; init; } = 0.5;
    /// <summary>Weight of the budget penalty (sum over layers of (rate - budget)²) next to the LM loss.</summary>
    public double PenaltyWeight { get; init; } = 4.0;
    /// <summary>Gumbel-softmax temperature of the soft sample whose gradient the hard decision borrows.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Window length in tokens (BOS included).</summary>
    public int WindowTokens { get; init; } = 129;
    public double InitialRate { get; init; } = 0.95;
}

/// <summary>
/// Trains token routers on a frozen model: LM loss of the routed forward pass plus the budget penalty, with
/// straight-through hard Gumbel-softmax gates (<see cref="GumbelRouter"/>). Only the routers' weights change.
/// </summary>
public static class RouterTraining
{
    public static LayerRouterSet Train(TrainableModel model, TokenWindows data, RouterTrainingOptions router, TrainingOptions options,
        LayerRouterSet? start = null, TextWriter? log = null, List<double>? lossHistory = null,
        IProgress<WorkProgress>? progress = null)
    {
        model.SetAllTrainable(false);
        var routers = start ?? LayerRouterSet.Create(model.Config.NumLayers, model.Config.HiddenSize, router.Budget, options.Seed, router.InitialRate, model.Model.Device);
        if (routers.LayerCount != model.Config.NumLayers || routers.HiddenSize != model.Config.HiddenSize)
            throw new ArgumentException("The routers do not match the model's layer count or hidden size.");
        routers.Weight.requires_grad = true;
        routers.Bias.requires_grad = true;
        var tracking = routers.TrackRates;
        routers.TrackRates = false;
        try
        {
            using var trainer = new Trainer("train-router", options with { WeightDecay = 0 }, [routers.Weight, routers.Bias]) { Log = log, Progress = progress };
            trainer.Run((step, micro) =>
            {
                var generator = new Generator((ulong)TokenWindows.Mix(options.Seed, step, micro), model.Model.Device);
                var gumbel = new GumbelRouter(routers, router.Temperature, generator);
                var windows = data.Sample(options.BatchSize, router.WindowTokens, options.Seed, step, micro);
                var lm = LanguageModelLoss.NextToken(model.Model, windows, gumbel);
                var loss = lm.Loss + gumbel.BudgetPenalty(router.Budget) * router.PenaltyWeight;
                return new MicroBatchLoss(loss, lm.Tokens);
            });
            lossHistory?.AddRange(trainer.LossHistory);
        }
        finally
        {
            routers.Weight.requires_grad = false;
            routers.Bias.requires_grad = false;
            routers.TrackRates = tracking;
        }
        return routers;
    }

    /// <summary>Nats per token of the routed model on <paramref name="windows"/> and the measured execution rates.</summary>
    public static (double NatsPerToken, double ExecutionRate, IReadOnlyList<double> LayerRates) Measure(DecoderModel model, LayerRouterSet routers, IReadOnlyList<int[]> windows)
    {
        routers.ResetRates();
        routers.TrackRates = true;
        double nll = 0;
        long tokens = 0;
        using var _ = no_grad();
        foreach (var w in windows)
        {
            using var scope = NewDisposeScope();
            var loss = LanguageModelLoss.NextToken(model, [w], routers);
            nll += loss.Loss.item<float>() * loss.Tokens;
            tokens += loss.Tokens;
        }
        return (nll / Math.Max(1, tokens), routers.ExecutionRate, routers.ExecutionRates);
    }
}
