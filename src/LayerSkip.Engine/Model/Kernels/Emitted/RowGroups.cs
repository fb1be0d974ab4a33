namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// A product over any number of activation rows with kernels that take at most <see cref="RowDotKernel.MaxRows"/>:
/// the rows go in near-equal groups, and the weight rows in blocks small enough to stay in a core's L2, so the groups
/// after the first read each block from the cache rather than from memory.
/// </summary>
internal sealed unsafe class RowGroups
{
    private const int CachedBlockBytes = 256 << 10;

    private readonly RowDotKernel[] _kernels;
    private readonly int _perGroup, _block;
    private readonly long _weightRowBytes, _xRowBytes, _weightRowDataBytes;

    /// <param name="rows">Activation rows.</param>
    /// <param name="weightRowBytes">Bytes from one weight row to the next.</param>
    /// <param name="xRowBytes">Bytes from one activation row to the next.</param>
    /// <param name="weightRowDataBytes">Bytes from one weight row's own data (the kernel's last argument) to the next.</param>
    /// <param name="kernel">The kernel for a group of the given number of rows.</param>
    public RowGroups(int rows, long weightRowBytes, long xRowBytes, long weightRowDataBytes, Func<int, RowDotKernel> kernel)
    {
        var groups = (rows + RowDotKernel.MaxRows - 1) / RowDotKernel.MaxRows;
        _perGroup = (rows + groups - 1) / groups;
        _kernels = new RowDotKernel[groups];
        for (var g = 0; g < groups; g++) _kernels[g] = kernel(Math.Min(_perGroup, rows - g * _perGroup));
        _block = (int)Math.Max(1, CachedBlockBytes / weightRowBytes);
        (_weightRowBytes, _xRowBytes, _weightRowDataBytes) = (weightRowBytes, xRowBytes, weightRowDataBytes);
    }

    /// <summary>
    /// y[r * yStride + j] for weight rows j in [start, end) of the matrix at <paramref name="weights"/> (its rows' own
    /// data from <paramref name="weightRowData"/>).
    /// </summary>
    public void Run(byte* weights, int start, int end, byte* x, float* y, int yStride, byte* weightRowData = null)
    {
        var block = _kernels.Length == 1 ? end - start : _block; // one group reads each row once: no blocks needed
        for (var b = start; b < end; b += block)
        {
            var n = Math.Min(block, end - b);
            for (var g = 0; g < _kernels.Length; g++)
            {
                long first = g * _perGroup;
                _kernels[g].Run(weights + b * _weightRowBytes, n, x + first * _xRowBytes, y + first * yStride + b, yStride,
                    weightRowData == null ? null : weightRowData + b * _weightRowDataBytes);
            }
        }
    }
}
