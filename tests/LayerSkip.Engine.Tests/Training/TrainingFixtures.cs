using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Tests.Reference;
using LayerSkip.Engine.Training;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Training;

/// <summary>Tiny models, learnable synthetic token streams and tensor comparisons shared by the training tests.</summary>
internal static class TrainingFixtures
{
    public const int Vocab = 512; // the stories260K tokenizer's, so saved folders load in the engine with its tokenizer

    public static ModelConfig Config(int layers = 4, int kvHeads = 2) =>
        TinyCheckpoint.LlamaConfig(layers: layers, hidden: 32, heads: 4, kvHeads: kvHeads, vocab: Vocab, tied: true);

    /// <summary>A stream of a few fixed "phrases" in a seeded random order: next tokens are mostly predictable.</summary>
    public static TokenWindows Stream(int seed = 0, int length = 4000)
    {
        var rng = new Random(seed);
        var phrases = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, 7).Select(_ => rng.Next(3, Vocab)).ToArray()).ToArray();
        var tokens = new List<int>();
        while (tokens.Count < length) tokens.AddRange(phrases[rng.Next(phrases.Length)]);
        return new TokenWindows(tokens, bos: 1);
    }

    public static TrainingOptions Options(int steps, double lr = 1e-2) => new()
    {
        Steps = steps, BatchSize = 4, LearningRate = lr, WarmupSteps = 2, Seed = 5, LogEvery = 1000,
    };

    public static string TempFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "layerskip-tests", "training-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    public static float[] Values(Tensor t)
    {
        using var _ = no_grad();
        return t.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();
    }

    public static double MaxAbsDiff(Tensor a, Tensor b) => Values(a).Zip(Values(b), (x, y) => Math.Abs((double)x - y)).Max();

    public static Tensor Ids(params int[] tokens) => tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length]);

    public static double Mean(IEnumerable<double> xs) => xs.Average();
}
