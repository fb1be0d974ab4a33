namespace LayerSkip.Engine.Model.Kernels;

/// <summary>
/// A weight matrix [out, in] in a layout our own kernels multiply with a few activation rows at the speed its bytes
/// stream from memory (batch-1 decoding reads every weight once per token and does little else).
/// </summary>
internal unsafe interface IMatVec : IDisposable
{
    int OutFeatures { get; }
    int InFeatures { get; }
    /// <summary>The bytes one product streams: weights plus scales.</summary>
    long Bytes { get; }

    /// <summary>
    /// y[r, j] = Σ_k W[rowStart + j, k] · x[r, k] for r &lt; rows, j &lt; rowCount; x is [rows, InFeatures] and y is
    /// [rows, rowCount], both float32 and dense.
    /// </summary>
    void Multiply(float* x, int rows, float* y, int rowStart, int rowCount, RowParallel threads);
}
