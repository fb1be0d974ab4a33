using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Generation;
using LayerSkip.Tests;

namespace LayerSkip.Engine.Tests.RealModel;

/// <summary>The real stories260K model quantized to int8 at load: the same story, nearly the same perplexity.</summary>
public class QuantizedStories260KTests
{
    private static InferenceEngine Load(string quantization) =>
        InferenceEngine.Load(new EngineOptions { ModelPath = SharedData.Stories260K, Device = "cpu", Quantization = quantization, MaxBatchSize = 1 });

    [Fact]
    public async Task Int8GreedilyTellsTheStoryOfLily()
    {
        using var engine = Load("int8");
        Assert.Equal("int8", engine.Model.Quantization.ToString());
        var tokenizer = engine.Tokenizer;
        var result = await engine.GenerateAsync(new GenerationRequest { PromptTokens = tokenizer.Encode("Once upon a time", addBos: true), MaxNewTokens = 40 });
        Assert.StartsWith(", there was a little girl named Lily.", tokenizer.Decode(result.Tokens));
    }

    [Fact]
    public async Task Int8CostsAtMostAHundredthOfANatPerToken()
    {
        var text = File.ReadAllText(SharedData.Path("data", "tinystories_dev.txt"))[..20_000];
        async Task<double> Nats(string quantization)
        {
            using var engine = Load(quantization);
            var windows = TeacherForcedScorer.Windows(engine.Tokenizer.Encode(text, addBos: false), 256, engine.Tokenizer.BosTokenId).ToList();
            return await engine.RunAsync(m => QualityReport.NatsPerToken(m, windows, null, 16, out _));
        }
        var full = await Nats("none");
        var int8 = await Nats("int8");
        Assert.InRange(int8 - full, -0.01, 0.01);
        Assert.NotEqual(full, int8); // the weights did change
    }
}
