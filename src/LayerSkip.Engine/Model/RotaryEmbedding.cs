using LayerSkip.Engine.Loading;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Rotary position embedding in the Hugging Face layout (rotate the two halves of each head),
/// with cos/sin tables precomputed for every position, and llama3 frequency scaling.
/// </summary>
internal sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos; // [maxPositions, headDim]
    private readonly Tensor _sin; // sign-folded: [-sin, sin], so rotate_half becomes a roll (see Apply)

    public int MaxPositions { get; }

    public RotaryEmbedding(ModelConfig c, int maxPositions, ScalarType dtype, Device device)
    {
        MaxPositions = maxPositions;
        var invFreq = InverseFrequencies(c);
        var half = invFreq.Length;
        var cos = new float[maxPositions * half * 2];
        var sin = new float[maxPositions * half * 2];
        for (var p = 0; p < maxPositions; p++)
            for (var j = 0; j < half; j++)
            {
                var angle = p * invFreq[j];
                float cv = (float)Math.Cos(angle), sv = (float)Math.Sin(angle);
                cos[p * 2 * half + j] = cos[p * 2 * half + j + half] = cv;
                sin[p * 2 * half + j] = -sv;
                sin[p * 2 * half + j + half] = sv;
            }
        using var c32 = tensor(cos, [maxPositions, 2 * half]);
        using var s32 = tensor(sin, [maxPositions, 2 * half]);
        _cos = c32.to(dtype, device);
        _sin = s32.to(dtype, device);
    }

    /// <summary>The per-pair inverse frequencies, with llama3 scaling applied when configured.</summary>
    public static double[] InverseFrequencies(ModelConfig c)
    {
        var half = c.HeadDim / 2;
        var inv = new double[half];
        for (var j = 0; j < half; j++) inv[j] = 1.0 / Math.Pow(c.RopeTheta, 2.0 * j / c.HeadDim);
        if (c.RopeScaling is { Type: "llama3" } s)
        {
            var lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
            var highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
            for (var j = 0; j < half; j++)
            {
                var wavelen = 2 * Math.PI / inv[j];
                if (wavelen < highWavelen) continue;
                if (wavelen > lowWavelen) { inv[j] /= s.Factor; continue; }
                var smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                inv[j] = (1 - smooth) * inv[j] / s.Factor + smooth * inv[j];
            }
        }
        return inv;
    }

    /// <summary>cos and sin for the given positions [B, S], shaped [B, 1, S, headDim] to broadcast over heads.</summary>
    public (Tensor Cos, Tensor Sin) ForPositions(Tensor positions)
    {
        var b = positions.shape[0];
        var s = positions.shape[1];
        var flat = positions.reshape(-1);
        return (_cos.index_select(0, flat).view(b, 1, s, -1), _sin.index_select(0, flat).view(b, 1, s, -1));
    }

    /// <summary>
    /// x·cos + rotate_half(x)·sin with rotate_half(x) = [−x2, x1]. Rolling x by half a head gives [x2, x1], and the
    /// sign lives in the table (<see cref="ForPositions"/> returns [−sin, sin]): three tensor operations instead of seven,
    /// which matters because decoding small models is bound by the number of operations, not by arithmetic.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor signedSin) =>
        (x * cos).addcmul_(x.roll(x.shape[^1] / 2, -1), signedSin, 1);

    public void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
