using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Tests.Reference;
using LayerSkip.Engine.Training;
using static LayerSkip.Engine.Tests.Training.TrainingFixtures;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Training;

public class AdaptationTests
{
    [Theory]
    [InlineData(2)] // grouped-query attention
    [InlineData(4)] // multi-head attention: the prompt's saved keys are views of the cache itself
    public void SkipAwareLossIsTheTeacherForcedScoreOfTheResponse(int kvHeads)
    {
        using var ckpt = TinyCheckpoint.Create(Config(layers: 4, kvHeads: kvHeads), seed: 2);
        using var model = TrainableModel.Load(ckpt.Folder);
        var plan = LayerPlanner.Create(LayerPolicy.Explicit, 2, 4, explicitLayers: [0, 3]);
        int[] window = [1, 40, 7, 300, 12, 99, 4, 8, 250, 31];
        const int prompt = 4;
        using var scope = NewDisposeScope();
        var loss = LanguageModelLoss.SkipAware(model.Model, [window], prompt, plan);
        loss.Loss.backward(); // gradients flow through the cache writes of both passes
        Assert.NotNull(model.BodyParameters[0].grad);

        WindowScore score;
        using (no_grad()) score = TeacherForcedScorer.ScoreWindow(model.Model, window, plan, prompt);
        var expected = score.NegativeLogLikelihoods[prompt..].Average();
        Assert.Equal(expected, loss.Loss.item<float>(), 4);
        Assert.Equal(window.Length - 1 - prompt, loss.Tokens);
    }

    [Fact]
    public void AdaptLowersTheSkippedLossChangesOnlyNonEmbeddingWeightsAndRecordsThePlan()
    {
        using var ckpt = TinyCheckpoint.Create(Config(layers: 4) with { MaxPositionEmbeddings = 64 }, seed: 6);
        var folder = TempFolder();
        try
        {
            using var model = TrainableModel.Load(ckpt.Folder);
            var plan = LayerPlanner.Create(LayerPolicy.Unified, 2, 4);
            var embeddingBefore = Values(model.Embedding);
            var layerBefore = Values(model.Model.Weights.Layers[1].Qkv);
            var data = new TextAdaptationData(Stream(), windowTokens: 17, promptTokens: 6);
            var result = SkipAwareAdaptation.Run(model, data, plan, Options(20), folder, tokenizerSource: null);

            Assert.True(Mean(result.LossHistory.TakeLast(3)) < result.LossHistory[0] - 0.5,
                $"loss did not fall: {string.Join(", ", result.LossHistory.Select(l => l.ToString("0.00")))}");
            Assert.Equal(embeddingBefore, Values(model.Embedding));
            Assert.NotEqual(layerBefore, Values(model.Model.Weights.Layers[1].Qkv)); // a skipped layer still learns (via the prompt)

            Assert.True(AdaptedPlan.TryRead(folder, out var adapted));
            Assert.Equal(plan.KeptLayers, adapted.KeptLayers);
            Assert.Equal(LayerPolicy.Unified, adapted.Policy);
            Assert.Equal(2.0, adapted.SpeedupRatio);
            Assert.Equal(plan, adapted.ToLayerPlan());
            Assert.False(AdaptedPlan.TryRead(ckpt.Folder, out _));

            using var loaded = DecoderModel.Load(folder, ScalarType.Float32, CPU);
            Assert.Equal(embeddingBefore, Values(loaded.Weights.Embedding));
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void ResumingAnAdaptationContinuesFromTheSavedStep()
    {
        using var ckpt = TinyCheckpoint.Create(Config(layers: 3) with { MaxPositionEmbeddings = 64 }, seed: 8);
        var folder = TempFolder();
        try
        {
            var plan = LayerPlanner.Create(LayerPolicy.EarlyExit, 1.5, 3);
            var data = new PairAdaptationData([new([1, 5, 6], [7, 8, 9, 10]), new([1, 20, 21, 22], [23, 24, 25])]);
            using (var model = TrainableModel.Load(ckpt.Folder))
                SkipAwareAdaptation.Run(model, data, plan, Options(4) with { StopAtStep = 2 }, folder, null);
            using (var model = TrainableModel.Load(folder))
            {
                var result = SkipAwareAdaptation.Run(model, data, plan, Options(4), folder, null, resume: true);
                Assert.Equal(4, result.Step);
                Assert.Equal(2, result.LossHistory.Count);
            }
            Assert.True(AdaptedPlan.TryRead(folder, out var adapted));
            Assert.Equal(4, adapted.Steps);
        }
        finally { Directory.Delete(folder, true); }
    }
}
