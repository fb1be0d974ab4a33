using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Model.Kernels;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench-matvec: each decode projection of a model shape (batch-1 matrix-vector product) in each weight
/// format, as GB/s of the bytes it streams and as a share of this machine's measured read bandwidth; libtorch's
/// bfloat16 <c>linear</c> alongside for comparison. With several <c>--rows</c>, also what a product over a few
/// activation rows (a small batch, a speculative verification) costs against one row.
/// </summary>
internal sealed class MatVecBenchCommand : CliCommand
{
    private readonly Option<string> _shape = Opt.OneOf("--shape", "Model shape whose projections to measure.", "llama-1b", ModelShapes.Names.ToArray());
    private readonly Option<string> _formats = Opt.Value("--quantize", "Comma-separated weight formats: none, int8, int4.", "none,int8,int4", "formats");
    private readonly Option<int?> _groupSize = SharedOptions.GroupSize();
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly Option<double> _seconds = Opt.Value("--seconds", "Time spent per kernel and matrix.", 0.5);
    private readonly Option<int[]> _rows = Opt.Ints("--rows",
        $"Activation rows per product: 1 is a decode step, 4 a verification of three drafts (at most {Projection.MaxKernelRows}, the most the kernels take).", 1);

    public MatVecBenchCommand() : base("bench-matvec",
        "Each decode projection of a model shape (batch-1 matrix-vector product) in each weight format: GB/s and share of the measured read bandwidth.") =>
        this.AddAll(_shape, _formats, _groupSize, _threads, _seconds, _rows);

    protected override Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation) =>
        Task.FromResult(Run(parse.GetValue(_shape)!, parse.GetValue(_formats)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            parse.GetValue(_groupSize), parse.GetValue(_threads) ?? get_num_threads(), parse.GetValue(_seconds), parse.GetValue(_rows)!));

    private static int Run(string shapeName, string[] formats, int? groupSize, int threads, double seconds, int[] rowCounts)
    {
        if (rowCounts.Length == 0 || rowCounts.Any(r => r < 1 || r > Projection.MaxKernelRows))
            throw new CliException($"--rows: each count must be from 1 to {Projection.MaxKernelRows}.");

        set_num_threads(threads);
        var c = ModelShapes.Get(shapeName);
        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        (string Name, long Out, long In)[] matrices =
            [("qkv", q + 2 * kv, h), ("o", h, q), ("gate_up", 2 * i, h), ("down", h, i), ("lm_head", c.VocabSize, h)];

        var bound = ReadBandwidth.Measure(threads);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"read bandwidth: {bound / 1e9:0.0} GB/s on {threads} threads (SIMD sum over 1 GiB)"));
        Console.WriteLine("| matrix | shape | format | rows | MB read | µs per product | GB/s | share of read bound | × one row |");
        Console.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|");
        using var _ = no_grad();
        var generator = new Generator(7);
        foreach (var (name, outF, inF) in matrices)
        {
            var xs = rowCounts.Distinct().ToDictionary(r => r, r => randn([r, inF], ScalarType.BFloat16, generator: generator));
            using var w = randn([outF, inF], ScalarType.BFloat16, generator: generator).mul_(0.02);
            void Rows(string label, long bytes, Func<Tensor, Tensor> apply)
            {
                double? one = null;
                foreach (var rows in rowCounts)
                {
                    var seconds1 = Time(() => apply(xs[rows]), seconds);
                    one ??= rows == 1 ? seconds1 : null;
                    Row(name, outF, inF, label, rows, bytes, seconds1, bound, one is { } o && rows > 1 ? seconds1 / o : null);
                }
            }
            Rows("bf16 (libtorch linear)", w.NumberOfElements * 2, x => F.linear(x, w));
            foreach (var format in formats)
            {
                var quantization = WeightQuantization.Parse(format, groupSize, "--quantize");
                using var projection = Projection.Create(w, quantization);
                Rows(quantization.Format == WeightFormat.None ? "bf16" : quantization.ToString(), projection.StreamedBytes, x => projection.Apply(x));
            }
            foreach (var x in xs.Values) x.Dispose();
        }
        return 0;
    }

    private static void Row(string name, long outF, long inF, string format, int rows, long bytes, double secondsPerCall, double bound, double? perOneRow)
    {
        var rate = bytes / secondsPerCall;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {outF}×{inF} | {format} | {rows} | {bytes / 1e6:0.0} | {secondsPerCall * 1e6:0} | {rate / 1e9:0.0} | {rate / bound:P0} | {(perOneRow is { } p ? p.ToString("0.00", CultureInfo.InvariantCulture) : "")} |"));
    }

    /// <summary>Median seconds per call over batches of calls filling about <paramref name="seconds"/>.</summary>
    private static double Time(Func<Tensor> call, double seconds)
    {
        for (var w = 0; w < 3; w++) call().Dispose();
        var probe = Stopwatch.StartNew();
        call().Dispose();
        var perBatch = Math.Max(1, (int)(seconds / 5 / Math.Max(probe.Elapsed.TotalSeconds, 1e-6)));
        var samples = new List<double>();
        for (var b = 0; b < 5; b++)
        {
            var clock = Stopwatch.StartNew();
            for (var n = 0; n < perBatch; n++) call().Dispose();
            samples.Add(clock.Elapsed.TotalSeconds / perBatch);
        }
        samples.Sort();
        return samples[samples.Count / 2];
    }
}
