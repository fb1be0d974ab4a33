using TorchSharp;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Scalars that stay reachable while libtorch reads them. TorchSharp turns a number passed as a <see cref="Scalar"/>
/// (and the default alpha of <c>add_(Tensor)</c>) into a native scalar owned by a finalizable object that nothing
/// references once its handle is passed on: a garbage collection during a long native call can free it while libtorch
/// still reads it ("Unknown scalar type", a failed toDouble check). Long calls take their scalars from here, or from a
/// local kept in a <c>using</c> until the call returns.
/// </summary>
internal static class LiveScalars
{
    /// <summary>The integer 1: the alpha of a plain in-place addition (valid for integer and float tensors).</summary>
    public static readonly Scalar One = 1L.ToScalar();
}
