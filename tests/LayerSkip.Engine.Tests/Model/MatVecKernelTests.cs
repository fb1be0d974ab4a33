using LayerSkip.Engine.Model.Kernels;
using LayerSkip.Engine.Model.Kernels.Emitted;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// Each matrix-vector kernel against a plain double-precision product over the same (dequantized) weights, on odd
/// shapes, several activation rows and row ranges, with SIMD and with the portable scalar paths.
/// </summary>
[Collection(KernelIsaSwitches.Name)]
public unsafe class MatVecKernelTests
{
    public static TheoryData<int, int, int, bool> Shapes => new()
    {
        // out, in, activation rows, scalar only
        { 37, 95, 1, false }, { 130, 1000, 3, false }, { 64, 2048, 2, false }, { 5, 64, 4, false }, { 300, 172, 1, false },
        { 37, 95, 2, true }, { 70, 300, 1, true },
    };

    /// <summary>
    /// With AVX-512 BF16 the kernel multiplies the activations rounded to bfloat16 (libtorch's rounding is the reference
    /// here); without it, or widened on request, it multiplies them as they are.
    /// </summary>
    [Theory, MemberData(nameof(Shapes))]
    public void Bfloat16MatchesTheProductOfItsValues(int outF, int inF, int rows, bool scalar)
    {
        using var w = Random(outF, inF, 1).to(ScalarType.BFloat16);
        var weights = Values(w.to(ScalarType.Float32));
        using var kernel = new DenseMatVec(w);
        CheckAgainstReference(kernel, weights, outF, inF, rows, scalar, (_, _) => 1e-5,
            KernelIsa.Bf16Dot && !scalar ? RoundToBfloat16 : null);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Bfloat16WidenedToFloat32MatchesTheProductOfItsValues(int outF, int inF, int rows, bool scalar)
    {
        using var w = Random(outF, inF, 1).to(ScalarType.BFloat16);
        var weights = Values(w.to(ScalarType.Float32));
        using var kernel = new DenseMatVec(w);
        WithManagedKernels(() => CheckAgainstReference(kernel, weights, outF, inF, rows, scalar, (_, _) => 1e-5));
    }

    /// <summary>
    /// The BF16 kernel takes at most seven activation rows per pass, so larger batches go in groups over blocks of
    /// weight rows; rows of every length class (whole 128-element steps, single 32-element vectors, a masked tail) on
    /// a matrix tall enough for several blocks.
    /// </summary>
    [Theory]
    [InlineData(600, 256, 9)] [InlineData(300, 1000, 15)] [InlineData(70, 4104, 8)] [InlineData(1, 7, 1)]
    public void Bfloat16GroupsOfActivationRowsMatchTheProductOfTheirValues(int outF, int inF, int rows)
    {
        using var w = Random(outF, inF, 6).to(ScalarType.BFloat16);
        var weights = Values(w.to(ScalarType.Float32));
        using var kernel = new DenseMatVec(w);
        CheckAgainstReference(kernel, weights, outF, inF, rows, false, (_, _) => 1e-5, KernelIsa.Bf16Dot ? RoundToBfloat16 : null);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Float32MatchesTheProductOfItsValues(int outF, int inF, int rows, bool scalar)
    {
        using var w = Random(outF, inF, 2);
        var weights = Values(w);
        using var kernel = new DenseMatVec(w);
        CheckAgainstReference(kernel, weights, outF, inF, rows, scalar, (_, _) => 1e-5);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Int8MatchesTheDequantizedProductWithItsInt8Activation(int outF, int inF, int rows, bool scalar)
    {
        var original = Values(Random(outF, inF, 3));
        var dequantized = (float[])original.Clone();
        Int8MatVec kernel;
        fixed (float* p = dequantized) kernel = Int8MatVec.Quantize(p, outF, inF);
        using var _ = kernel;
        for (var n = 0; n < outF; n++)
        {
            var scale = original.Skip(n * inF).Take(inF).Max(Math.Abs) / 127f;
            for (var k = 0; k < inF; k++)
                Assert.True(Math.Abs(original[n * inF + k] - dequantized[n * inF + k]) <= scale / 2 * 1.0001 + 1e-7,
                    $"int8 round trip of W[{n},{k}] is off by more than half a step");
        }
        CheckAgainstReference(kernel, dequantized, outF, inF, rows, scalar, (_, _) => 1e-5, QuantizeActivation);
        // and the managed kernel where an assembled one exists
        WithManagedKernels(() => CheckAgainstReference(kernel, dequantized, outF, inF, rows, scalar, (_, _) => 1e-5, QuantizeActivation));
    }

    /// <summary>More activation rows than one assembled int8 call takes, on a matrix tall enough for several blocks.</summary>
    [Theory]
    [InlineData(900, 1000, 9)] [InlineData(300, 2048, 15)] [InlineData(40, 64, 8)]
    public void Int8GroupsOfActivationRowsMatchTheDequantizedProduct(int outF, int inF, int rows)
    {
        var dequantized = Values(Random(outF, inF, 7));
        Int8MatVec kernel;
        fixed (float* p = dequantized) kernel = Int8MatVec.Quantize(p, outF, inF);
        using var _ = kernel;
        CheckAgainstReference(kernel, dequantized, outF, inF, rows, false, (_, _) => 1e-5, QuantizeActivation);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Int4MatchesTheDequantizedProductWithItsInt8Activation(int outF, int inF, int rows, bool scalar)
    {
        foreach (var group in new[] { 32, 64, 128, 256 })
        {
            var original = Values(Random(outF, inF, 4));
            var dequantized = (float[])original.Clone();
            Int4MatVec kernel;
            fixed (float* p = dequantized) kernel = Int4MatVec.Quantize(p, outF, inF, group);
            using var _ = kernel;
            for (var n = 0; n < outF; n++)
                for (var g = 0; g * group < inF; g++)
                {
                    var from = n * inF + g * group;
                    var count = Math.Min(group, inF - g * group);
                    var values = original[from..(from + count)];
                    var got = dequantized[from..(from + count)];
                    // At most 16 distinct levels, evenly spaced (scale · q + min) ...
                    var levels = got.Distinct().Order().ToArray();
                    Assert.True(levels.Length <= 16, $"group {g} of row {n} has {levels.Length} levels");
                    // ... and as close as rounding from min to max in 15 steps (asymmetric int4).
                    float lo = values.Min(), hi = values.Max(), step = (hi - lo) / 15f;
                    var plain = values.Sum(v => Math.Pow(v - (lo + MathF.Round((v - lo) / step) * step), 2));
                    var error = values.Zip(got, (a, b) => Math.Pow(a - b, 2)).Sum();
                    Assert.True(error <= plain * 1.0001 + 1e-12, $"group {g} of row {n}: squared error {error} above min/max rounding's {plain}");
                }
            CheckAgainstReference(kernel, dequantized, outF, inF, rows, scalar, (_, _) => 1e-5, QuantizeActivation);
            // and the managed kernel where an assembled one exists
            WithManagedKernels(() => CheckAgainstReference(kernel, dequantized, outF, inF, rows, scalar, (_, _) => 1e-5, QuantizeActivation));
        }
    }

    /// <summary>More activation rows than one assembled int4 call takes, groups of one and of several chunk pairs.</summary>
    [Theory]
    [InlineData(900, 1000, 9, 128)] [InlineData(300, 2048, 15, 256)] [InlineData(40, 128, 8, 128)]
    public void Int4GroupsOfActivationRowsMatchTheDequantizedProduct(int outF, int inF, int rows, int group)
    {
        var dequantized = Values(Random(outF, inF, 8));
        Int4MatVec kernel;
        fixed (float* p = dequantized) kernel = Int4MatVec.Quantize(p, outF, inF, group);
        using var _ = kernel;
        CheckAgainstReference(kernel, dequantized, outF, inF, rows, false, (_, _) => 1e-5, QuantizeActivation);
    }

    /// <summary>
    /// Rows of whole 1024-column superblocks, where the assembled kernels run, are packed in superblocks; the product,
    /// the stored codes and the dequantized rows agree with the chunked packing of the same weights, with one activation
    /// row and with several, on the assembled and on the managed kernel.
    /// </summary>
    [Theory]
    [InlineData(70, 2048, 1, 128)] [InlineData(33, 3072, 3, 256)] [InlineData(20, 1024, 7, 512)] [InlineData(16, 1024, 9, 1024)]
    public void Int4SuperblocksMatchTheChunkedPacking(int outF, int inF, int rows, int group)
    {
        var original = Values(Random(outF, inF, 11));
        var dequantized = (float[])original.Clone();
        var chunkedValues = (float[])original.Clone();
        Int4MatVec kernel, chunked;
        fixed (float* p = dequantized) kernel = Int4MatVec.Quantize(p, outF, inF, group);
        KernelIsa.ChunkedInt4 = true;
        try { fixed (float* p = chunkedValues) chunked = Int4MatVec.Quantize(p, outF, inF, group); }
        finally { KernelIsa.ChunkedInt4 = false; }
        using var _ = kernel;
        using var __ = chunked;
        Assert.Equal(RowDotKernel.Int8Available, kernel.InSuperblocks);
        Assert.False(chunked.InSuperblocks);
        Assert.Equal(chunkedValues, dequantized);
        for (var n = 0; n < outF; n += 7)
            for (var k = 0; k < inF; k += 13) Assert.Equal(chunked.Entry(n, k), kernel.Entry(n, k));
        var row = new float[inF];
        for (var n = 0; n < outF; n++)
        {
            fixed (float* r = row) kernel.DequantizeRow(n, r);
            Assert.Equal(dequantized[(n * inF)..((n + 1) * inF)], row);
        }
        CheckAgainstReference(kernel, dequantized, outF, inF, rows, false, (_, _) => 1e-5, QuantizeActivation);
        WithManagedKernels(() => CheckAgainstReference(kernel, dequantized, outF, inF, rows, false, (_, _) => 1e-5, QuantizeActivation));
    }

    /// <summary>
    /// A speculative verification must compute each position exactly as a one-token decode step does, and a row's
    /// numbers must not depend on its batch-mates: every kernel gives an activation row the same bits alone, in a
    /// batch of any size, and for any range of output rows (the kernels pair or block rows differently in each case).
    /// </summary>
    [Theory]
    [InlineData("bf16")] [InlineData("bf16-managed")] [InlineData("f32")] [InlineData("int8")] [InlineData("int8-managed")] [InlineData("int4")] [InlineData("int4-g32")] [InlineData("int4-g128")] [InlineData("int4-g128-managed")] [InlineData("int4-g256")]
    [InlineData("int4-superblocks")]
    public void EachActivationRowGetsTheSameBitsAloneOrInABatch(string format)
    {
        WithManagedKernels(() => CheckRowsAloneAndInBatches(format), managed: format.EndsWith("-managed"));
    }

    private static void CheckRowsAloneAndInBatches(string format)
    {
        const int outF = 37;
        var inF = format == "int4-superblocks" ? 2048 : 1000; // 1000: fifteen 64-blocks, one 32-block and a scalar tail
        using var w = Random(outF, inF, 5);
        var values = Values(w);
        IMatVec kernel;
        fixed (float* p = values)
            kernel = format switch
            {
                "bf16" or "bf16-managed" => new DenseMatVec(w.to(ScalarType.BFloat16)),
                "f32" => new DenseMatVec(w),
                "int8" or "int8-managed" => Int8MatVec.Quantize(p, outF, inF),
                "int4" => Int4MatVec.Quantize(p, outF, inF, 64),
                "int4-g32" => Int4MatVec.Quantize(p, outF, inF, 32),
                "int4-g256" => Int4MatVec.Quantize(p, outF, inF, 256),
                _ => Int4MatVec.Quantize(p, outF, inF, 128),
            };
        using var _ = kernel;
        var rng = new Random(9);
        var x = Enumerable.Range(0, 16 * inF).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] Run(int firstRow, int rows, int start, int count)
        {
            var y = new float[rows * count];
            fixed (float* xp = x) fixed (float* yp = y) kernel.Multiply(xp + (long)firstRow * inF, rows, yp, start, count, RowParallel.Shared(2));
            return y;
        }
        foreach (var (start, count) in new[] { (0, outF), (1, outF - 2), (3, 4) })
            foreach (var rows in new[] { 2, 3, 4, 5, 7, 8, 16 })
            {
                var batch = Run(0, rows, start, count);
                for (var r = 0; r < rows; r++)
                    Assert.Equal(Run(r, 1, start, count), batch[(r * count)..((r + 1) * count)]);
            }
    }

    /// <summary>
    /// A group must cover whole 64-column chunks or exactly half of one, and a whole number of groups must fit the
    /// blocks the kernel indexes by shifting: powers of two from 32. Anything else (192 is a multiple of 64 but not
    /// a power of two) is refused rather than computed wrongly, by the kernel and by the option parser alike.
    /// </summary>
    [Theory]
    [InlineData(16)] [InlineData(48)] [InlineData(96)] [InlineData(192)] [InlineData(0)] [InlineData(-64)]
    public void Int4RejectsGroupSizesThatAreNotPowersOfTwoFrom32(int groupSize)
    {
        var w = (float*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(4 * 256 * sizeof(float));
        try { Assert.Throws<ArgumentException>(() => Int4MatVec.Quantize(w, 4, 256, groupSize)); }
        finally { System.Runtime.InteropServices.NativeMemory.Free(w); }
        var e = Assert.Throws<ArgumentException>(() => LayerSkip.Engine.Model.WeightQuantization.Parse("int4", groupSize));
        Assert.Contains(groupSize.ToString(), e.Message);
    }

    /// <summary>
    /// What the integer kernels multiply instead of x: each 64-block rounded to int8 steps of amax/127 (ties to even),
    /// written here from that definition. With it the integer product must match to float rounding.
    /// </summary>
    private static float[] QuantizeActivation(float[] x)
    {
        var q = new float[x.Length];
        for (var b = 0; b < x.Length; b += 64)
        {
            var end = Math.Min(x.Length, b + 64);
            var amax = x[b..end].Max(Math.Abs);
            var step = amax / 127f;
            for (var k = b; k < end; k++) q[k] = amax == 0 ? 0 : MathF.Round(x[k] * (127f / amax)) * step;
        }
        return q;
    }

    /// <summary>Runs <paramref name="check"/> on the managed kernels (where <paramref name="managed"/>) even where assembled ones exist.</summary>
    private static void WithManagedKernels(Action check, bool managed = true)
    {
        KernelIsa.ManagedOnly = managed;
        try { check(); }
        finally { KernelIsa.ManagedOnly = false; }
    }

    /// <summary>x as bfloat16 holds it: libtorch's float → bfloat16 conversion (round to nearest even).</summary>
    private static float[] RoundToBfloat16(float[] x)
    {
        using var t = tensor(x);
        using var rounded = t.to(ScalarType.BFloat16).to(ScalarType.Float32);
        return rounded.data<float>().ToArray();
    }

    private static void CheckAgainstReference(IMatVec kernel, float[] w, int outF, int inF, int rows, bool scalar, Func<int, float[], double> tolerance,
        Func<float[], float[]>? activationSeenByKernel = null)
    {
        var rng = new Random(outF * 31 + inF + rows);
        var x = new float[rows * inF];
        for (var i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * (i % 17 == 0 ? 8 : 1); // a few outliers
        var pool = RowParallel.Shared(2);
        // The whole matrix, then an inner range of rows (as the key/value slice of a fused q/k/v projection).
        foreach (var (start, count) in new[] { (0, outF), (outF / 3, outF - outF / 3 - 1) })
        {
            if (count <= 0) continue;
            var y = new float[rows * count];
            KernelIsa.ScalarOnly = scalar;
            try
            {
                fixed (float* xp = x)
                fixed (float* yp = y)
                    kernel.Multiply(xp, rows, yp, start, count, pool);
            }
            finally { KernelIsa.ScalarOnly = false; }
            for (var r = 0; r < rows; r++)
            {
                var xr = x[(r * inF)..((r + 1) * inF)];
                if (activationSeenByKernel is not null) xr = activationSeenByKernel(xr);
                for (var j = 0; j < count; j++)
                {
                    var n = start + j;
                    double expected = 0, magnitude = 0;
                    for (var k = 0; k < inF; k++)
                    {
                        expected += (double)w[n * inF + k] * xr[k];
                        magnitude += Math.Abs((double)w[n * inF + k] * xr[k]);
                    }
                    var allowed = tolerance(n, xr) + 1e-5 * magnitude;
                    Assert.True(Math.Abs(y[r * count + j] - expected) <= allowed,
                        $"row {r}, output {n}: {y[r * count + j]} vs {expected} (allowed {allowed})");
                }
            }
        }
    }

    private static Tensor Random(int outF, int inF, int seed) =>
        randn([outF, inF], ScalarType.Float32, generator: new Generator((ulong)seed)) * 0.05;

    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();
}
