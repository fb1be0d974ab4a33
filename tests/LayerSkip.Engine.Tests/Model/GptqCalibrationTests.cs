using LayerSkip.Engine.Calibration;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tests.Reference;
using LayerSkip.Tests;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// Calibrated int4 quantization: the calibration windows, the layer-by-layer passes of the GPTQ-style fit, and how
/// calibration reaches the model, the engine options and their errors.
/// </summary>
public class GptqCalibrationTests
{
    private static readonly int[][] Windows = [[1, 17, 42, 5, 88, 63, 9], [1, 30, 71, 2, 54], [1, 8]];

    [Theory]
    [InlineData("int4", null)]
    [InlineData("int4", "int8")]
    [InlineData("int8", "int4")]
    public void PassesOverFewerLayersFitTheSameKernels(string format, string? head)
    {
        // A budget too small for two layers' Grams measures one layer per pass: the same float inputs, the same fit.
        var config = TinyCheckpoint.LlamaConfig(ModelArchitecture.Qwen2, tied: true);
        using var ckpt = TinyCheckpoint.Create(config, seed: 3);
        using var model = DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU);
        var quantization = WeightQuantization.Parse(format, 32).WithHead(head);
        using var together = GptqCalibration.Fit(model, Windows, quantization);
        using var apart = GptqCalibration.Fit(model, Windows, quantization, gramBudgetBytes: 1);
        var layers = format == "int4" ? Enumerable.Range(0, config.NumLayers) : [];
        var kinds = new[] { ProjectionKind.Qkv, ProjectionKind.Output, ProjectionKind.GateUp, ProjectionKind.Down };
        var expected = layers.SelectMany(l => kinds.Select(k => (l, k))).ToList();
        if (quantization.Head == WeightFormat.Int4) expected.Add((-1, ProjectionKind.LmHead));
        Assert.Equal(expected.Count, together.Count);
        foreach (var (layer, kind) in expected)
        {
            using var a = together.Take(layer, kind);
            using var b = apart.Take(layer, kind);
            Assert.Equal(Rows(a!), Rows(b!));
        }
        Assert.Equal(0, together.Count);
    }

    private static unsafe float[] Rows(LayerSkip.Engine.Model.Kernels.IMatVec kernel)
    {
        var values = new float[kernel.OutFeatures * kernel.InFeatures];
        fixed (float* p = values)
            for (var n = 0; n < kernel.OutFeatures; n++)
                ((LayerSkip.Engine.Model.Kernels.IDequantize)kernel).DequantizeRow(n, p + n * kernel.InFeatures);
        return values;
    }

    [Fact]
    public void CalibrationWindowsAreBosLedAndCappedAtTheTokenLimit()
    {
        var tokenizer = LayerSkip.Engine.Tokenization.TextTokenizer.Load(SharedData.Stories260K);
        var text = File.ReadAllText(SharedData.Path("data", "tinystories_dev.txt"))[..40_000]; // about 20,000 tokens
        var windows = QuantizationCalibration.Windows(tokenizer, text, maxSequenceLength: 256);
        Assert.All(windows, w => Assert.Equal(tokenizer.BosTokenId, w[0]));
        Assert.All(windows, w => Assert.InRange(w.Length, 2, 256));
        Assert.Equal(QuantizationCalibration.MaxTokens, windows.Sum(w => w.Length - 1));
        Assert.Equal(tokenizer.Encode(text, addBos: false).Take(255), windows[0].Skip(1));
    }

    [Fact]
    public void BadCalibrationIsRejectedByName()
    {
        var tokenizer = LayerSkip.Engine.Tokenization.TextTokenizer.Load(SharedData.Stories260K);
        Assert.Contains("--quantize-calibration", Assert.Throws<ArgumentException>(() => QuantizationCalibration.Windows(tokenizer, " \n", 128, "--quantize-calibration")).Message);

        var noQuantization = Assert.Throws<ArgumentException>(() => InferenceEngine.Load(new EngineOptions
        {
            ModelPath = SharedData.Stories260K, Device = "cpu", QuantizationCalibrationText = "Once upon a time",
        }));
        Assert.Contains("QuantizationCalibrationText", noQuantization.Message);
        Assert.Contains("int4", noQuantization.Message);
        var empty = Assert.Throws<ArgumentException>(() => InferenceEngine.Load(new EngineOptions
        {
            ModelPath = SharedData.Stories260K, Device = "cpu", Quantization = "int4", QuantizationCalibrationText = "",
        }));
        Assert.Contains("QuantizationCalibrationText", empty.Message);
        Assert.Contains("empty", empty.Message);

        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig(), seed: 3);
        Assert.Contains("calibrationWindows", Assert.Throws<ArgumentException>(() =>
            DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, calibrationWindows: Windows)).Message);
        Assert.Contains("window", Assert.Throws<ArgumentException>(() =>
            DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, quantization: WeightQuantization.Parse("int4"), calibrationWindows: [])).Message);
        Assert.Contains("window", Assert.Throws<ArgumentException>(() =>
            DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU, maxSequenceLength: 4, quantization: WeightQuantization.Parse("int4"), calibrationWindows: Windows)).Message);
    }

    [Fact]
    public async Task TheEngineOptionCalibratesTheInt4FitOfStories260K()
    {
        var text = File.ReadAllText(SharedData.Path("data", "tinystories_dev.txt"))[..10_000];
        EngineOptions Options(string quantization, string? calibration) => new()
        {
            ModelPath = SharedData.Stories260K, Device = "cpu", Quantization = quantization, MaxBatchSize = 1, QuantizationCalibrationText = calibration,
        };
        using var plain = InferenceEngine.Load(Options("int4", null));
        using var calibrated = InferenceEngine.Load(Options("int4", text));
        // Calibration refits every int4 projection, the output and down projections included.
        foreach (var (layer, kind) in new[] { (0, ProjectionKind.Qkv), (0, ProjectionKind.Output), (0, ProjectionKind.GateUp), (0, ProjectionKind.Down), (-1, ProjectionKind.LmHead) })
            Assert.NotEqual(await Weight(plain, layer, kind), await Weight(calibrated, layer, kind));
        // int8 has nothing to fit: the option is accepted and changes nothing.
        using var int8 = InferenceEngine.Load(Options("int8", null));
        using var int8Calibrated = InferenceEngine.Load(Options("int8", text));
        Assert.Equal(await Weight(int8, 0, ProjectionKind.Down), await Weight(int8Calibrated, 0, ProjectionKind.Down));
    }

    private static Task<float[]> Weight(InferenceEngine engine, int layer, ProjectionKind kind) =>
        engine.RunAsync(m => m.DequantizedWeight(layer, kind).contiguous().data<float>().ToArray());
}
