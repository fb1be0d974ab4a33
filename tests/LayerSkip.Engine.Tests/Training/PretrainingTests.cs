using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tests.Progress;
using LayerSkip.Engine.Tests.Reference;
using LayerSkip.Engine.Training;
using LayerSkip.Tests;
using static LayerSkip.Engine.Tests.Training.TrainingFixtures;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Training;

public class PretrainingTests
{
    [Fact]
    public async Task LossFallsAndTheSavedFolderLoadsWithTheSameLogits()
    {
        var out1 = TempFolder();
        try
        {
            using var model = TrainableModel.Create(Config() with { MaxPositionEmbeddings = 64 }, seed: 3);
            var result = Pretraining.Run(model, Stream(), windowTokens: 17, Options(25), out1, SharedData.Stories260K, log: null);
            Assert.Equal(25, result.Step);
            Assert.True(Mean(result.LossHistory.TakeLast(3)) < result.LossHistory[0] - 1.0,
                $"loss did not fall: {string.Join(", ", result.LossHistory.Select(l => l.ToString("0.00")))}");

            int[] tokens = [1, 40, 7, 300, 12, 99, 4];
            // Grad mode is per thread: the no_grad scope must end before the await below moves to another thread.
            using (NewDisposeScope())
            using (no_grad())
            {
                using var cache = model.Model.CreateCache(1, tokens.Length);
                var trained = model.Model.Forward(Ids(tokens), cache, lastPositionOnly: false);
                using var loaded = DecoderModel.Load(out1, ScalarType.Float32, CPU);
                using var cache2 = loaded.CreateCache(1, tokens.Length);
                var reloaded = loaded.Forward(Ids(tokens), cache2, lastPositionOnly: false);
                Assert.True(MaxAbsDiff(trained, reloaded) < 1e-5);
            }

            // The folder is a complete model: the engine loads it with the copied tokenizer and generates.
            Assert.True(File.Exists(Path.Combine(out1, "tokenizer.json")));
            using var engine = InferenceEngine.Load(new EngineOptions { ModelPath = out1 });
            var generated = await engine.GenerateAsync(new GenerationRequest { PromptTokens = tokens, MaxNewTokens = 4 });
            Assert.Equal(4, generated.Tokens.Count);
        }
        finally { Directory.Delete(out1, true); }
    }

    [Fact]
    public void SavedTensorsUseTheHuggingFaceNamesAndSplitTheFusedProjections()
    {
        var config = Config(kvHeads: 2) with { TieWordEmbeddings = false };
        using var ckpt = TinyCheckpoint.Create(config, seed: 4);
        var folder = TempFolder();
        try
        {
            using (var model = TrainableModel.Load(ckpt.Folder)) model.Save(folder, null);
            using var saved = LayerSkip.Engine.Loading.Checkpoint.Open(folder);
            Assert.Equal(ckpt.Weights.Keys.Order(), saved.TensorNames.Order());
            foreach (var (name, values) in ckpt.Weights)
            {
                using var t = saved.Load(name, ShapeOf(ckpt.Folder, name), ScalarType.Float32, CPU);
                Assert.Equal(values, t.data<float>().ToArray());
            }
        }
        finally { Directory.Delete(folder, true); }
    }

    private static long[] ShapeOf(string folder, string name)
    {
        using var f = LayerSkip.Engine.Loading.SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors"));
        return f.Tensors[name].Shape;
    }

    [Fact]
    public void EveryStepIsReportedWithItsLoss()
    {
        var folder = TempFolder();
        try
        {
            using var model = TrainableModel.Create(Config(layers: 2) with { MaxPositionEmbeddings = 64 }, seed: 5);
            var progress = new RecordedProgress();
            var result = Pretraining.Run(model, Stream(), 17, Options(4) with { StopAtStep = 3 }, folder, null, progress: progress);
            // --stop-at 3 of 4 planned steps: the total is where this run stops.
            Assert.Equal([1L, 2L, 3L], progress.Reports.Select(r => r.Done));
            Assert.All(progress.Reports, r => Assert.Equal(3, r.Total));
            Assert.Equal(result.LossHistory.Select(l => $"loss {l.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)}"),
                progress.Reports.Select(r => r.Detail));
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void AResumedRunEndsWhereAnUninterruptedOneDoes()
    {
        string straight = TempFolder(), resumed = TempFolder();
        try
        {
            var config = Config(layers: 2) with { MaxPositionEmbeddings = 64 };
            var options = Options(6);
            using (var model = TrainableModel.Create(config, seed: 9))
                Pretraining.Run(model, Stream(), 17, options, straight, null);

            using (var model = TrainableModel.Create(config, seed: 9))
                Assert.Equal(3, Pretraining.Run(model, Stream(), 17, options with { StopAtStep = 3 }, resumed, null).Step);
            Assert.Equal(3, TrainingState.TryLoad(resumed)!.Step);
            using (var model = TrainableModel.Load(resumed))
            {
                var result = Pretraining.Run(model, Stream(), 17, options, resumed, null, resume: true);
                Assert.Equal(6, result.Step);
                Assert.Equal(3, result.LossHistory.Count); // only steps 4..6 ran in this process
            }
            Assert.Equal(6, TrainingState.TryLoad(resumed)!.Step);

            using var a = DecoderModel.Load(straight, ScalarType.Float32, CPU);
            using var b = DecoderModel.Load(resumed, ScalarType.Float32, CPU);
            for (var l = 0; l < config.NumLayers; l++)
                Assert.True(MaxAbsDiff(a.Weights.Layers[l].GateUp, b.Weights.Layers[l].GateUp) < 1e-5);
            Assert.True(MaxAbsDiff(a.Weights.Embedding, b.Weights.Embedding) < 1e-5);
        }
        finally
        {
            Directory.Delete(straight, true);
            Directory.Delete(resumed, true);
        }
    }
}
