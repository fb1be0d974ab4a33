using LayerSkip.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation.Sampling;

/// <summary>
/// Counter-based random numbers: a draw is a pure function of (key, token id), and a sequence's keys are a pure
/// function of (seed, draw number). Nothing depends on which other sequences share the batch or on how many
/// candidates a step considers, and the device and the managed reference compute bit-identical values.
/// </summary>
/// <remarks>The mixing function is SplitMix64's finaliser; integer products wrap identically in C# and libtorch.</remarks>
public static class CounterRandom
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private const ulong IdStride = 0xD1B54A32D192ED03UL; // an odd constant unrelated to Golden
    private const ulong Mix1 = 0xBF58476D1CE4E5B9UL;
    private const ulong Mix2 = 0x94D049BB133111EBUL;
    private const double TwoToMinus53 = 1.0 / (1UL << 53);

    /// <summary>The key of draw number <paramref name="draw"/> of the sequence seeded with <paramref name="seed"/>.</summary>
    public static long Key(long seed, long draw) => unchecked((long)Mix((ulong)seed + ((ulong)draw + 1) * Golden));

    /// <summary>The uniform in (0, 1) that a key gives token <paramref name="id"/> (managed reference).</summary>
    public static double Uniform(long key, long id) =>
        ((Mix(unchecked((ulong)key + (ulong)id * IdStride)) >> 11) + 0.5) * TwoToMinus53;

    /// <summary>The same uniforms on the device: keys [rows, 1] (or [rows]) × ids [rows, n] → float64 [rows, n].</summary>
    public static Tensor Uniform(Tensor keys, Tensor ids)
    {
        using var scope = NewDisposeScope();
        var z = ids.mul(IdStrideScalar).add(keys.dim() == 1 ? keys.unsqueeze(1) : keys, LiveScalars.One);
        z = z.bitwise_xor(ShiftRight(z, 30)).mul_(Mix1Scalar);
        z = z.bitwise_xor(ShiftRight(z, 27)).mul_(Mix2Scalar);
        z = z.bitwise_xor(ShiftRight(z, 31));
        var u = ShiftRight(z, 11).to(ScalarType.Float64).add_(Half, LiveScalars.One).mul_(UnitScalar); // alphas kept alive (LiveScalars)
        return u.MoveToOuterDisposeScope();
    }

    /// <summary>Gumbel(0, 1) noise from the uniforms: argmax(log p + g) is a draw from p.</summary>
    public static Tensor Gumbel(Tensor keys, Tensor ids)
    {
        using var scope = NewDisposeScope();
        return Uniform(keys, ids).log_().neg_().log_().neg_().MoveToOuterDisposeScope();
    }

    // Constants as long-lived Scalars: a temporary Scalar can be finalised while libtorch still reads it.
    private static readonly Scalar IdStrideScalar = unchecked((long)IdStride).ToScalar();
    private static readonly Scalar Mix1Scalar = unchecked((long)Mix1).ToScalar();
    private static readonly Scalar Mix2Scalar = unchecked((long)Mix2).ToScalar();
    private static readonly Scalar Half = 0.5.ToScalar();
    private static readonly Scalar UnitScalar = TwoToMinus53.ToScalar();

    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * Mix1;
            z = (z ^ (z >> 27)) * Mix2;
            return z ^ (z >> 31);
        }
    }

    /// <summary>A logical right shift of int64 values (libtorch's shift is arithmetic).</summary>
    private static Tensor ShiftRight(Tensor z, int bits)
    {
        var shift = tensor((long)bits, ScalarType.Int64, z.device);
        var mask = tensor((long)(ulong.MaxValue >> bits), ScalarType.Int64, z.device);
        return z.bitwise_right_shift(shift).bitwise_and(mask);
    }
}
