using LayerSkip.Engine.Evaluation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Training.Routing;

namespace LayerSkip.Engine.Tests.Generation;

public class GeneratedTextQualityTests(TinyEngineFixture fx) : IClassFixture<TinyEngineFixture>
{
    [Fact]
    public async Task TheFullModelScoresTheContinuationOnlyAndAgreementIsPositional()
    {
        int[] prompt = [1, 4, 9];
        int[] continuation = [5, 7, 2, 30];
        int[] fullGreedy = [5, 8, 2];
        var quality = new GeneratedTextQuality();
        await fx.Engine.RunAsync(m => { quality.Add(m, prompt, continuation, fullGreedy); return 0; });

        // Reference: the independent decoder's log-softmax at each continuation position.
        var logits = fx.Reference.Logits([.. prompt, .. continuation]);
        double expected = 0;
        for (var i = 0; i < continuation.Length; i++)
        {
            var row = logits[prompt.Length - 1 + i];
            var max = row.Max();
            var logSum = max + Math.Log(row.Sum(l => Math.Exp(l - max)));
            expected += logSum - row[continuation[i]];
        }
        Assert.Equal(expected / continuation.Length, quality.FullModelNatsPerToken, 4);
        Assert.Equal(continuation.Length, quality.Tokens);
        Assert.Equal(2.0 / 4, quality.Agreement, 6); // positions 0 and 2 match; position 3 has no counterpart
    }

    [Fact]
    public void SkippedTokensStillCostTheirKeyValueProjections()
    {
        var llama1b = ModelShapes.Get("llama-1b"); // q 2048, kv 512, mlp 8192
        Assert.Equal(2.0 * 512 / (2048 + 2 * 512 + 2048 + 3 * 8192), RoutedCost.SkippedShare(llama1b), 9);
        Assert.Equal(1.0, RoutedCost.ComputeWeightedRate(1.0, llama1b), 9);
        var share = RoutedCost.SkippedShare(llama1b);
        Assert.Equal(0.5 + 0.5 * share, RoutedCost.ComputeWeightedRate(0.5, llama1b), 9);
    }
}
