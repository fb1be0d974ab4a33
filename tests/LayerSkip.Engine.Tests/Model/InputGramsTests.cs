using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tests.Reference;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// The Gram matrices Σ x xᵀ of each projection's inputs that calibrate the GPTQ-style int4 fit, against the inputs the
/// naive reference decoder multiplies.
/// </summary>
public class InputGramsTests
{
    private static readonly int[][] Windows = [[1, 17, 42, 5, 88, 63, 9], [1, 30, 71, 2, 54], [1, 8]];

    private static ModelConfig ConfigFor(string name) => name switch
    {
        "llama-gqa" => TinyCheckpoint.LlamaConfig(),
        "qwen2-tied-bias" => TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen2, tied: true),
        "qwen3-qknorm" => TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen3, heads: 4, kvHeads: 1),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [InlineData("llama-gqa")]
    [InlineData("qwen2-tied-bias")]
    [InlineData("qwen3-qknorm")]
    public void GramsEqualThoseOfTheReferenceProjectionInputs(string arch)
    {
        var config = ConfigFor(arch);
        using var ckpt = TinyCheckpoint.Create(config, seed: 3);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        using var grams = InputGrams.Measure(model, Windows, 0, config.NumLayers, lmHead: true);

        // The reference's inputs, their outer products summed by hand over every position of every window.
        var sums = new Dictionary<(int, string), double[,]>();
        var reference = new ReferenceDecoder(config, ckpt.Weights);
        foreach (var window in Windows)
            reference.Logits(window, projectionInput: (layer, name, x) =>
            {
                if (!sums.TryGetValue((layer, name), out var sum)) sums[(layer, name)] = sum = new double[x.Length, x.Length];
                for (var i = 0; i < x.Length; i++)
                    for (var j = 0; j < x.Length; j++) sum[i, j] += x[i] * x[j];
            });
        var tokens = Windows.Sum(w => w.Length);
        var kinds = new[] { ("q_proj", ProjectionKind.Qkv), ("o_proj", ProjectionKind.Output), ("gate_proj", ProjectionKind.GateUp), ("down_proj", ProjectionKind.Down) };
        for (var l = 0; l < config.NumLayers; l++)
            foreach (var (name, kind) in kinds)
                AssertGram(sums[(l, name)], grams.Gram(l, kind), $"layer {l} {kind}");
        AssertGram(sums[(-1, "lm_head")], grams.Gram(-1, ProjectionKind.LmHead), "LM head");
        Assert.Equal(tokens, grams.Tokens(0, ProjectionKind.Down));
        Assert.Equal(tokens, grams.Tokens(-1, ProjectionKind.LmHead));

        // A pass that records one layer only holds that layer's Grams, equal to the full pass's.
        using var one = InputGrams.Measure(model, Windows, 1, 2, lmHead: false);
        Assert.Null(one.Gram(0, ProjectionKind.Down));
        Assert.Null(one.Gram(-1, ProjectionKind.LmHead));
        Assert.True(one.Gram(1, ProjectionKind.Down)!.allclose(grams.Gram(1, ProjectionKind.Down)!, rtol: 1e-10, atol: 1e-12));

        // Passes that carry the windows' hidden states from one to the next run each layer once, with the same Grams.
        using var states = new WindowStates(Windows.Length);
        using (var first = InputGrams.Measure(model, Windows, 0, 1, lmHead: false, states))
            AssertSame(first, grams, 0, 1, lmHead: false);
        Assert.Equal(1, states.Layer);
        using (var rest = InputGrams.Measure(model, Windows, 1, config.NumLayers, lmHead: true, states))
            AssertSame(rest, grams, 1, config.NumLayers, lmHead: true);
        Assert.Equal(config.NumLayers, states.Layer);
        Assert.Throws<ArgumentException>(() => InputGrams.Measure(model, Windows, 0, 1, lmHead: false, states));
    }

    private static void AssertSame(InputGrams pass, InputGrams full, int first, int end, bool lmHead)
    {
        var kinds = new[] { ProjectionKind.Qkv, ProjectionKind.Output, ProjectionKind.GateUp, ProjectionKind.Down };
        for (var l = first; l < end; l++)
            foreach (var kind in kinds)
                Assert.True(pass.Gram(l, kind)!.allclose(full.Gram(l, kind)!, rtol: 1e-10, atol: 1e-12), $"layer {l} {kind}");
        if (lmHead) Assert.True(pass.Gram(-1, ProjectionKind.LmHead)!.allclose(full.Gram(-1, ProjectionKind.LmHead)!, rtol: 1e-10, atol: 1e-12), "LM head");
    }

    private static void AssertGram(double[,] expected, Tensor? actual, string what)
    {
        Assert.NotNull(actual);
        var n = expected.GetLength(0);
        Assert.Equal(new long[] { n, n }, actual.shape);
        Assert.Equal(ScalarType.Float64, actual.dtype);
        var values = actual.data<double>().ToArray();
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                Assert.True(Math.Abs(values[i * n + j] - expected[i, j]) <= 1e-4 * Math.Max(1, Math.Abs(expected[i, j])),
                    $"{what} [{i}, {j}]: {values[i * n + j]} against the reference's {expected[i, j]}");
    }

    [Fact]
    public void InputsWiderThanATileAddUpToTheWholeSymmetricGram()
    {
        // 2,500 columns: tiles of 1,024 with a short last one; only those on and above the diagonal are summed.
        const int columns = 2500;
        using var grams = new InputGrams(firstLayer: 0, endLayer: 1, lmHead: false);
        using var a = randn(1, 40, columns, generator: new TorchSharp.torch.Generator(5));
        using var b = randn(1, 30, columns, generator: new TorchSharp.torch.Generator(6));
        grams.Add(0, ProjectionKind.Down, a);
        grams.Add(0, ProjectionKind.Down, b);
        using var x = cat([a, b], 1).reshape(-1, columns).to(ScalarType.Float64);
        using var expected = x.t().matmul(x);
        var gram = grams.Gram(0, ProjectionKind.Down)!;
        Assert.True(gram.allclose(expected, rtol: 1e-5, atol: 1e-4), $"largest difference {(gram - expected).abs().max().item<double>()}");
        Assert.Equal(70, grams.Tokens(0, ProjectionKind.Down));
    }

    [Fact]
    public void ATakenGramIsHandedOverAndNoLongerHeld()
    {
        using var grams = new InputGrams(firstLayer: 0, endLayer: 1, lmHead: false);
        grams.Add(0, ProjectionKind.Qkv, tensor(new float[] { 1, 2 }, [1, 1, 2]));
        using var taken = grams.Take(0, ProjectionKind.Qkv);
        Assert.Equal(new double[] { 1, 2, 2, 4 }, taken!.data<double>().ToArray());
        Assert.Null(grams.Gram(0, ProjectionKind.Qkv));
    }

    [Fact]
    public void RowsOfEveryCallAddUpAndOtherLayersAreIgnored()
    {
        using var grams = new InputGrams(firstLayer: 1, endLayer: 2, lmHead: false);
        grams.Add(1, ProjectionKind.Down, tensor(new float[] { 1, 2, 3, 4 }, [1, 2, 2]));
        grams.Add(1, ProjectionKind.Down, tensor(new float[] { 0, 5 }, [1, 1, 2]));
        Assert.Equal(new double[] { 1 + 9, 2 + 12, 2 + 12, 4 + 16 + 25 }, grams.Gram(1, ProjectionKind.Down)!.data<double>().ToArray());
        Assert.Equal(3, grams.Tokens(1, ProjectionKind.Down));
        grams.Add(0, ProjectionKind.Down, zeros(1, 3)); // not recorded: ignored, whatever its width
        grams.Add(-1, ProjectionKind.LmHead, zeros(1, 3));
        Assert.Null(grams.Gram(0, ProjectionKind.Down));
        Assert.Null(grams.Gram(-1, ProjectionKind.LmHead));
        Assert.Null(grams.Gram(1, ProjectionKind.Qkv));
        Assert.Throws<ArgumentException>(() => grams.Add(1, ProjectionKind.Down, zeros(1, 3)));
    }
}
