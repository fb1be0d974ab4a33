using System.CommandLine;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using static TorchSharp.torch;

namespace LayerSkip.Cli.Options;

/// <summary>
/// The model of a speculative benchmark: a Hugging Face folder (--model) or a random-weight shape (--shape), with
/// --dtype, --quantize, --group-size, --quantize-head, --quantize-calibration (a model folder only) and --threads.
/// </summary>
internal sealed class ModelOrShapeOptions
{
    public Option<string?> Model { get; } = Opt.Text("--model", "Hugging Face model folder (or use --shape).", "dir");
    public Option<string?> Shape { get; } = Opt.Text("--shape", "Random-weight model shape instead of a model folder: " + string.Join(", ", ModelShapes.Names) + ".", "name");
    public Option<string?> DType { get; } = Opt.Text("--dtype", "Compute dtype: float32 or bfloat16 (default: float32).", "dtype");
    public Option<string> Quantize { get; } = SharedOptions.Quantize();
    public Option<int?> GroupSize { get; } = SharedOptions.GroupSize();
    public Option<string?> QuantizeHead { get; } = SharedOptions.QuantizeHead();
    public Option<string?> QuantizeCalibration { get; } = SharedOptions.QuantizeCalibration();
    public Option<int?> Threads { get; } = SharedOptions.Threads();

    public ModelOrShapeOptions(Command command) => command.AddAll(Model, Shape, DType, Quantize, GroupSize, QuantizeHead, QuantizeCalibration, Threads);

    public bool IsShape(ParseResult parse) => parse.GetValue(Shape) is not null;

    /// <summary>
    /// Loads the engine and names the model for result rows. The prefix cache is off: every run prefills its prompt
    /// the same way, so plain and speculative runs start from identical logits (a reused prefix recomputes the last
    /// prompt token as a decode step, which rounds differently in bfloat16).
    /// </summary>
    public (InferenceEngine Engine, string Name) Load(ParseResult parse, IProgressReporter progress, int maxBatchSize, int maxSequenceLength)
    {
        var modelPath = parse.GetValue(Model);
        var shapeName = parse.GetValue(Shape);
        if ((modelPath is null) == (shapeName is null)) throw new CliException("Give either --model DIR or --shape NAME.");
        var dtypeName = parse.GetValue(DType);
        var threads = parse.GetValue(Threads);
        WeightQuantization quantization;
        try { quantization = WeightQuantization.Parse(parse.GetValue(Quantize), parse.GetValue(GroupSize), "--quantize")
            .WithHead(parse.GetValue(QuantizeHead), "--quantize-head"); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
        if (shapeName is not null && parse.GetValue(QuantizeCalibration) is not null)
            throw new CliException("--quantize-calibration needs --model: random weights of a --shape have no tokenizer to read text with.");
        var quantizeCalibration = SharedOptions.ReadQuantizeCalibration(parse.GetValue(QuantizeCalibration), quantization);
        var suffix = quantization.Format == WeightFormat.None ? "" : $" {quantization.Format.ToString().ToLowerInvariant()}";
        using (progress.Start($"load {modelPath ?? shapeName}"))
        {
            if (modelPath is not null)
                return (InferenceEngine.Load(new EngineOptions
                {
                    ModelPath = modelPath, Device = "cpu", ComputeDType = dtypeName, MaxBatchSize = maxBatchSize, Threads = threads,
                    Quantization = parse.GetValue(Quantize), GroupSize = parse.GetValue(GroupSize), HeadQuantization = parse.GetValue(QuantizeHead),
                    QuantizationCalibrationText = quantizeCalibration, PrefixCacheBytes = 0,
                }), ModelOptions.FolderName(modelPath) + suffix);
            var config = ModelShapes.Get(shapeName!);
            var dtype = ComputeDevice.ResolveDType(dtypeName ?? "float32", CPU);
            return (InferenceEngine.FromModel(() => new DecoderModel(config, RandomWeights.Create(config, dtype, CPU, seed: 3), dtype, CPU, maxSequenceLength, quantization),
                maxBatchSize: maxBatchSize, threads: threads, prefixCacheBytes: 0), shapeName! + suffix);
        }
    }
}
