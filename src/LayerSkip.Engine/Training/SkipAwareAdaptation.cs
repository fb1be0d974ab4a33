using LayerSkip.Engine.Progress;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Training;

/// <summary>One adaptation example: a prompt (run at full depth) followed by a response (run under the plan).</summary>
public sealed record PromptResponse(int[] Prompt, int[] Response);

/// <summary>Where adaptation examples come from; a micro-batch depends only on (seed, step, micro).</summary>
public interface IAdaptationData
{
    IReadOnlyList<PromptResponse> Sample(int count, int seed, int step, int micro);
}

/// <summary>Windows of a token stream: the first <c>promptTokens</c> tokens are the prompt, the rest the response.</summary>
public sealed class TextAdaptationData(TokenWindows windows, int windowTokens, int promptTokens) : IAdaptationData
{
    public IReadOnlyList<PromptResponse> Sample(int count, int seed, int step, int micro) =>
        windows.Sample(count, windowTokens, seed, step, micro).Select(w => new PromptResponse(w[..promptTokens], w[promptTokens..])).ToList();
}

/// <summary>Tokenised {"prompt", "response"} pairs, drawn at random.</summary>
public sealed class PairAdaptationData(IReadOnlyList<PromptResponse> pairs) : IAdaptationData
{
    public IReadOnlyList<PromptResponse> Sample(int count, int seed, int step, int micro)
    {
        if (pairs.Count == 0) throw new InvalidOperationException("No prompt/response pairs to adapt on.");
        var rng = new Random(TokenWindows.Mix(seed, step, micro));
        return Enumerable.Range(0, count).Select(_ => pairs[rng.Next(pairs.Count)]).ToList();
    }
}

/// <summary>
/// Skip-aware fine-tuning (Liu, Meng, Zhou 2024): prompts run every layer, responses only the plan's layers while
/// attending to the full-depth prompt cache (<see cref="LanguageModelLoss.SkipAware"/>); loss on response tokens only;
/// the embedding and the (tied) output head stay frozen. The plan is recorded in the saved config.json
/// (<see cref="AdaptedPlan"/>).
/// </summary>
public static class SkipAwareAdaptation
{
    public const string Kind = "adapt";

    public static TrainingResult Run(TrainableModel model, IAdaptationData data, LayerPlan plan, TrainingOptions options,
        string? outFolder, string? tokenizerSource, bool resume = false, TextWriter? log = null,
        IProgress<WorkProgress>? progress = null)
    {
        if (plan.LayerCount != model.Config.NumLayers) throw new ArgumentException($"The plan is for {plan.LayerCount} layers, the model has {model.Config.NumLayers}.");
        model.SetAllTrainable(true);
        model.SetEmbeddingsTrainable(false);
        using var trainer = new Trainer(Kind, options, model.TrainableParameters) { Log = log, Progress = progress };
        if (resume) trainer.Resume(outFolder ?? throw new ArgumentNullException(nameof(outFolder)));
        void Save(Trainer t)
        {
            if (outFolder is null) return;
            model.Save(outFolder, tokenizerSource, AdaptedPlan.From(plan, t.Step).ToJson());
            t.SaveState(outFolder);
        }
        trainer.Run((step, micro) => Loss(model, data.Sample(options.BatchSize, options.Seed, step, micro), plan), Save);
        Save(trainer);
        return new TrainingResult(trainer.Step, trainer.TokensSeen, trainer.LossHistory);
    }

    /// <summary>Mean response-token loss of a micro-batch; examples of equal shape share one forward pass.</summary>
    public static MicroBatchLoss Loss(TrainableModel model, IReadOnlyList<PromptResponse> examples, LayerPlan plan)
    {
        TorchSharp.torch.Tensor? total = null;
        long tokens = 0;
        foreach (var group in examples.Where(e => e.Response.Length >= 2 && e.Prompt.Length >= 1)
                     .GroupBy(e => (e.Prompt.Length, e.Response.Length)))
        {
            var windows = group.Select(e => e.Prompt.Concat(e.Response).ToArray()).ToList();
            var part = LanguageModelLoss.SkipAware(model.Model, windows, group.Key.Item1, plan);
            var weighted = part.Loss * part.Tokens;
            total = total is null ? weighted : total + weighted;
            tokens += part.Tokens;
        }
        if (total is null) throw new InvalidOperationException("No example in the micro-batch has a prompt and a response of at least two tokens.");
        return new MicroBatchLoss(total / tokens, tokens);
    }
}
