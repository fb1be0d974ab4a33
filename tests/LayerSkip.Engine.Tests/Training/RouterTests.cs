using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tests.Reference;
using LayerSkip.Engine.Training;
using LayerSkip.Engine.Training.Routing;
using static LayerSkip.Engine.Tests.Training.TrainingFixtures;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Training;

public class RouterTests
{
    private static readonly int[] Tokens = [1, 40, 7, 300, 12, 99, 4, 8, 250, 31, 77];

    private static LayerRouterSet Constant(ModelConfig c, double bias)
    {
        var r = LayerRouterSet.Create(c.NumLayers, c.HiddenSize, 0.5, seed: 0);
        using (no_grad()) { r.Weight.zero_(); r.Bias.fill_(bias); }
        return r;
    }

    [Fact]
    public void RoutingEveryTokenIsThePlainForward()
    {
        using var ckpt = TinyCheckpoint.Create(Config(), seed: 11);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var routers = Constant(ckpt.Config, 10);
        using var scope = NewDisposeScope();
        using var c1 = model.CreateCache(1, Tokens.Length);
        using var c2 = model.CreateCache(1, Tokens.Length);
        var plain = model.Forward(Ids(Tokens), c1, lastPositionOnly: false);
        var routed = model.Forward(Ids(Tokens), c2, lastPositionOnly: false, router: routers);
        Assert.True(MaxAbsDiff(plain, routed) < 1e-6);
        Assert.Equal(1.0, routers.ExecutionRate);
    }

    [Fact]
    public void RoutingNoTokenLeavesOnlyTheHeadButStillWritesKeysAndValues()
    {
        using var ckpt = TinyCheckpoint.Create(Config(), seed: 12);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var routers = Constant(ckpt.Config, -10);
        using var scope = NewDisposeScope();
        using var c1 = model.CreateCache(1, Tokens.Length);
        using var c2 = model.CreateCache(1, Tokens.Length);
        model.Forward(Ids(Tokens), c1, lastPositionOnly: false);
        var routed = model.Forward(Ids(Tokens), c2, lastPositionOnly: false, router: routers);

        // No layer runs: the reference with no position running any layer is the head on the embeddings.
        var expected = new ReferenceDecoder(ckpt.Config, ckpt.Weights).Logits(Tokens, _ => false, fullDepthPositions: 0);
        var actual = Values(routed);
        var v = ckpt.Config.VocabSize;
        for (var t = 0; t < Tokens.Length; t++)
            for (var j = 0; j < v; j++) Assert.True(Math.Abs(expected[t][j] - actual[t * v + j]) < 1e-4);
        // Layer 0 sees the embeddings either way, so its keys and values equal the plain pass's; every layer wrote some.
        Assert.True(MaxAbsDiff(c1.Keys(0).narrow(2, 0, Tokens.Length), c2.Keys(0).narrow(2, 0, Tokens.Length)) < 1e-6);
        Assert.True(MaxAbsDiff(c1.Values(0).narrow(2, 0, Tokens.Length), c2.Values(0).narrow(2, 0, Tokens.Length)) < 1e-6);
        for (var l = 1; l < ckpt.Config.NumLayers; l++) Assert.True(c2.Keys(l).abs().sum().item<float>() > 0);
        Assert.Equal(0.0, routers.ExecutionRate);
    }

    [Fact]
    public void RoutedPrefillEqualsRoutedTokenByTokenDecoding()
    {
        using var ckpt = TinyCheckpoint.Create(Config(), seed: 13);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var routers = LayerRouterSet.Create(ckpt.Config.NumLayers, ckpt.Config.HiddenSize, 0.5, seed: 3, initialRate: 0.5);
        using (no_grad()) routers.Weight.mul_(30); // decisive, mixed decisions
        using var scope = NewDisposeScope();
        using var c1 = model.CreateCache(1, Tokens.Length);
        var prefill = model.Forward(Ids(Tokens), c1, lastPositionOnly: false, router: routers);
        var rate = routers.ExecutionRate;
        Assert.InRange(rate, 0.1, 0.9);

        using var c2 = model.CreateCache(1, 2);
        var stepwise = Tokens.Select(t => model.Forward(Ids(t), c2, router: routers)).ToList();
        Assert.True(MaxAbsDiff(prefill, cat(stepwise, 1)) < 1e-4);
    }

    [Fact]
    public void TrainingMovesTheExecutionRateTowardTheBudgetAndTheFileRoundTrips()
    {
        using var ckpt = TinyCheckpoint.Create(Config(layers: 3) with { MaxPositionEmbeddings = 64 }, seed: 14);
        using var model = TrainableModel.Load(ckpt.Folder);
        var data = Stream();
        var heldOut = Stream(seed: 1).Sample(4, 17, 0, 0, 0);
        var options = Options(25, lr: 3e-2);
        var routerOptions = new RouterTrainingOptions { Budget = 0.4, WindowTokens = 17, PenaltyWeight = 4 };
        var qkvBefore = Values(model.Model.Weights.Layers[0].Qkv);

        using var start = LayerRouterSet.Create(3, ckpt.Config.HiddenSize, 0.4, options.Seed, routerOptions.InitialRate);
        var before = RouterTraining.Measure(model.Model, start, heldOut);
        var losses = new List<double>();
        using var routers = RouterTraining.Train(model, data, routerOptions, options, lossHistory: losses);
        var after = RouterTraining.Measure(model.Model, routers, heldOut);

        Assert.True(before.ExecutionRate > 0.9, $"started at {before.ExecutionRate}");
        Assert.True(Math.Abs(after.ExecutionRate - 0.4) < Math.Abs(before.ExecutionRate - 0.4) - 0.2,
            $"rate {before.ExecutionRate:0.00} -> {after.ExecutionRate:0.00}, budget 0.4");
        Assert.True(Mean(losses.TakeLast(3)) < losses[0]);
        Assert.Equal(qkvBefore, Values(model.Model.Weights.Layers[0].Qkv)); // the model stays frozen

        var path = Path.Combine(TempFolder(), "routers.safetensors");
        try
        {
            routers.Save(path);
            using var loaded = RouterFile.Load(path);
            Assert.Equal(0.4, loaded.Budget);
            Assert.Equal(Values(routers.Weight), Values(loaded.Weight));
            Assert.Equal(after.ExecutionRate, RouterTraining.Measure(model.Model, loaded, heldOut).ExecutionRate);
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, true); }
    }
}
