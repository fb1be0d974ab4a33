using LayerSkip.Engine.Progress;
using LayerSkip.Engine.Loading;

namespace LayerSkip.Engine.Training;

/// <summary>What a training run did: the step reached, tokens seen and the loss of each step run in this process.</summary>
public sealed record TrainingResult(int Step, long TokensSeen, IReadOnlyList<double> LossHistory);

/// <summary>Pretraining a LLaMA from scratch (or continuing one) with the next-token loss at full depth.</summary>
public static class Pretraining
{
    public const string Kind = "train";

    /// <summary>A small LLaMA config for the experiments: head dim 32, SwiGLU width ~8/3 hidden (multiple of 32), tied embeddings.</summary>
    public static ModelConfig SmallLlama(int layers, int hidden, int vocab, int? heads = null, int? kvHeads = null, int maxPositions = 256, int? bos = 1, int? eos = 2)
    {
        var h = heads ?? Math.Max(1, hidden / 32);
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Llama,
            HiddenSize = hidden,
            IntermediateSize = (hidden * 8 / 3 + 31) / 32 * 32,
            NumLayers = layers,
            NumHeads = h,
            NumKeyValueHeads = kvHeads ?? h,
            HeadDim = hidden / h,
            VocabSize = vocab,
            MaxPositionEmbeddings = maxPositions,
            RmsNormEps = 1e-5,
            RopeTheta = 10000,
            TieWordEmbeddings = true,
            BosTokenId = bos,
            EosTokenIds = eos is int e ? [e] : [],
        };
    }

    /// <summary>
    /// Trains every weight on windows of <paramref name="windowTokens"/> tokens; saves (model folder plus trainer state)
    /// to <paramref name="outFolder"/> every SaveEvery steps and at the end. With <paramref name="resume"/>, the model
    /// must have been loaded from <paramref name="outFolder"/> and training continues from the step saved there.
    /// </summary>
    public static TrainingResult Run(TrainableModel model, TokenWindows data, int windowTokens, TrainingOptions options,
        string? outFolder, string? tokenizerSource, bool resume = false, TextWriter? log = null,
        IProgress<WorkProgress>? progress = null)
    {
        model.SetAllTrainable(true);
        using var trainer = new Trainer(Kind, options, model.TrainableParameters) { Log = log, Progress = progress };
        if (resume) trainer.Resume(outFolder ?? throw new ArgumentNullException(nameof(outFolder)));
        void Save(Trainer t)
        {
            if (outFolder is null) return;
            model.Save(outFolder, tokenizerSource);
            t.SaveState(outFolder);
        }
        trainer.Run((step, micro) => LanguageModelLoss.NextToken(model.Model, data.Sample(options.BatchSize, windowTokens, options.Seed, step, micro)), Save);
        Save(trainer);
        return new TrainingResult(trainer.Step, trainer.TokensSeen, trainer.LossHistory);
    }
}
