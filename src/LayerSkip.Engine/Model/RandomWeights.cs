using TorchSharp;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model.Kernels;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>Seeded random weights of a given shape, built directly in memory (no file), for benchmarks.</summary>
public static class RandomWeights
{
    public static ModelWeights Create(ModelConfig c, ScalarType dtype, Device device, int seed = 0)
    {
        using var _ = no_grad();
        var generator = new Generator((ulong)seed, device);
        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        // Small standard deviations keep activations in range through many layers, as trained weights do.
        Tensor R(double std, params long[] shape)
        {
            using var scale = std.ToScalar(); // alive until the multiplication returns (see LiveScalars)
            return HugePages.Rehome(randn(shape, dtype, device, generator: generator).mul_(scale).DetachFromDisposeScope());
        }
        Tensor Ones(long n) => ones(n, dtype, device).DetachFromDisposeScope();
        var layers = Enumerable.Range(0, c.NumLayers).Select(_ => new LayerWeights
        {
            InputNorm = Ones(h),
            Qkv = R(0.02, q + 2 * kv, h),
            QkvBias = c.AttentionBias ? R(0.02, q + 2 * kv) : null,
            QNorm = c.QkNorm ? Ones(c.HeadDim) : null,
            KNorm = c.QkNorm ? Ones(c.HeadDim) : null,
            Output = R(0.02, h, q),
            PostAttentionNorm = Ones(h),
            GateUp = R(0.02, 2 * i, h),
            Down = R(0.02, h, i),
        }).ToList();
        var embedding = R(0.02, c.VocabSize, h);
        return new ModelWeights
        {
            Embedding = embedding,
            FinalNorm = Ones(h),
            LmHead = c.TieWordEmbeddings ? embedding : R(0.02, c.VocabSize, h),
            Layers = layers,
        };
    }
}
