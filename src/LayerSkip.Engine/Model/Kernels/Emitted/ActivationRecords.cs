namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// How the integer kernels find an activation row: one record per row, its int8 values (padded bytes, laid out as the
/// format needs) followed by its scales, each record a whole number of 64-byte lines so every row starts on a line.
/// Keeping the scales beside the values leaves the kernel's last argument to the weight row's own data.
/// </summary>
internal static class ActivationRecords
{
    /// <summary>Bytes of one record: <paramref name="padded"/> value bytes and <paramref name="scaleBytes"/> of scales, rounded up to lines.</summary>
    public static int Bytes(int padded, int scaleBytes) =>
        padded + (scaleBytes + RowDotProgram.VectorBytes - 1) / RowDotProgram.VectorBytes * RowDotProgram.VectorBytes;
}
