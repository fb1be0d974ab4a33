using LayerSkip.Engine.Loading;

namespace LayerSkip.Engine.Model;

/// <summary>Named architectures of real models, for benchmarks with random weights of the same shape.</summary>
public static class ModelShapes
{
    private static readonly Dictionary<string, ModelConfig> Shapes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["stories260K"] = Shape(ModelArchitecture.Llama, hidden: 64, inter: 172, layers: 5, heads: 8, kv: 4, headDim: 8, vocab: 512, tied: true, ctx: 512),
        ["smollm-135m"] = Shape(ModelArchitecture.Llama, hidden: 576, inter: 1536, layers: 30, heads: 9, kv: 3, headDim: 64, vocab: 49152, tied: true, ctx: 8192, theta: 100000),
        ["qwen3-0.6b"] = Shape(ModelArchitecture.Qwen3, hidden: 1024, inter: 3072, layers: 28, heads: 16, kv: 8, headDim: 128, vocab: 151936, tied: true, ctx: 40960, theta: 1000000),
        ["llama-1b"] = Shape(ModelArchitecture.Llama, hidden: 2048, inter: 8192, layers: 16, heads: 32, kv: 8, headDim: 64, vocab: 128256, tied: true, ctx: 131072, theta: 500000,
            scaling: new RopeScaling("llama3", 32, 1, 4, 8192)),
        ["llama-3b"] = Shape(ModelArchitecture.Llama, hidden: 3072, inter: 8192, layers: 28, heads: 24, kv: 8, headDim: 128, vocab: 128256, tied: true, ctx: 131072, theta: 500000,
            scaling: new RopeScaling("llama3", 32, 1, 4, 8192)),
        ["llama-8b"] = Shape(ModelArchitecture.Llama, hidden: 4096, inter: 14336, layers: 32, heads: 32, kv: 8, headDim: 128, vocab: 128256, tied: false, ctx: 131072, theta: 500000,
            scaling: new RopeScaling("llama3", 8, 1, 4, 8192)),
    };

    public static IEnumerable<string> Names => Shapes.Keys;

    public static ModelConfig Get(string name) => Shapes.TryGetValue(name, out var c)
        ? c
        : throw new ArgumentException($"Unknown model shape '{name}'. Known shapes: {string.Join(", ", Shapes.Keys)}.", nameof(name));

    private static ModelConfig Shape(ModelArchitecture arch, int hidden, int inter, int layers, int heads, int kv, int headDim, int vocab,
        bool tied, int ctx, double theta = 10000, RopeScaling? scaling = null) => new()
    {
        Architecture = arch, HiddenSize = hidden, IntermediateSize = inter, NumLayers = layers, NumHeads = heads,
        NumKeyValueHeads = kv, HeadDim = headDim, VocabSize = vocab, MaxPositionEmbeddings = ctx, RmsNormEps = 1e-5,
        RopeTheta = theta, RopeScaling = scaling, TieWordEmbeddings = tied, BosTokenId = 1, EosTokenIds = [2],
    };
}
