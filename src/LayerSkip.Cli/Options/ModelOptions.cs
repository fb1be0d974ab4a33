using System.CommandLine;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Options;

/// <summary>The options that load a model folder into an engine: --model, --device, --dtype, --max-seq-len, --threads, --router, --quantize, --group-size, --quantize-head, --quantize-calibration, --calibration-file.</summary>
internal sealed class ModelOptions
{
    public Option<string> Model { get; } = SharedOptions.Model();
    public Option<string> Device { get; } = Opt.Value("--device", "auto, cpu, cuda or cuda:N.", "auto", "device");
    public Option<string?> DType { get; } = Opt.Text("--dtype", "Compute dtype: float32, bfloat16 or float16 (default: bfloat16 on cuda, float32 on cpu).", "dtype");
    public Option<int?> MaxSequenceLength { get; } = Opt.Maybe<int>("--max-seq-len", "Longest sequence (prompt + output) in tokens (default: the model's, at most 8192).");
    public Option<int?> Threads { get; } = SharedOptions.Threads();
    public Option<string?> Router { get; } = SharedOptions.Router();
    public Option<string> Quantize { get; } = SharedOptions.Quantize();
    public Option<int?> GroupSize { get; } = SharedOptions.GroupSize();
    public Option<string?> QuantizeHead { get; } = SharedOptions.QuantizeHead();
    public Option<string?> QuantizeCalibration { get; } = SharedOptions.QuantizeCalibration();
    public Option<string?> CalibrationFile { get; } = Opt.Text("--calibration-file", "Text the calibrated policy ranks layers on (default: built-in English prose).", "file");

    public ModelOptions(Command command) =>
        command.AddAll(Model, Device, DType, MaxSequenceLength, Threads, Router, Quantize, GroupSize, QuantizeHead, QuantizeCalibration, CalibrationFile);

    /// <summary>Loads the engine, showing the load and any calibration it runs later as progress.</summary>
    public InferenceEngine Load(ParseResult parse, IProgressReporter progress, int maxBatchSize = 16)
    {
        var model = parse.GetValue(Model)!;
        var calibration = parse.GetValue(CalibrationFile);
        if (calibration is not null && !File.Exists(calibration)) throw new CliException($"--calibration-file: file not found: {calibration}");
        WeightQuantization quantization;
        try { quantization = WeightQuantization.Parse(parse.GetValue(Quantize), parse.GetValue(GroupSize), "--quantize").WithHead(parse.GetValue(QuantizeHead), "--quantize-head"); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
        var quantizeCalibration = SharedOptions.ReadQuantizeCalibration(parse.GetValue(QuantizeCalibration), quantization);
        InferenceEngine engine;
        using (progress.Start($"load {FolderName(model)}"))
            engine = InferenceEngine.Load(new EngineOptions
            {
                ModelPath = model,
                Device = parse.GetValue(Device)!,
                ComputeDType = parse.GetValue(DType),
                MaxSequenceLength = parse.GetValue(MaxSequenceLength),
                MaxBatchSize = maxBatchSize,
                Threads = parse.GetValue(Threads),
                RouterPath = parse.GetValue(Router),
                Quantization = parse.GetValue(Quantize),
                GroupSize = parse.GetValue(GroupSize),
                HeadQuantization = parse.GetValue(QuantizeHead),
                QuantizationCalibrationText = quantizeCalibration,
                CalibrationText = calibration is null ? null : File.ReadAllText(calibration),
                CalibrationProgress = new CalibrationProgress(progress),
            });
        return engine;
    }

    /// <summary>The model folder's own name ("stories260K"), for progress labels and result rows.</summary>
    public static string FolderName(string path) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));

    public static string Describe(LayerPlan plan) =>
        plan.IsFullDepth ? $"full depth ({plan.LayerCount} layers)"
            : $"{plan.Policy.ToString().ToLowerInvariant()} r={plan.TargetSpeedup:0.##}: {plan.KeptLayers.Count}/{plan.LayerCount} layers [{string.Join(",", plan.KeptLayers)}]";

    /// <summary>Shows a calibration (which starts inside the engine, when a calibrated plan is first asked for) as a task.</summary>
    private sealed class CalibrationProgress(IProgressReporter progress) : IProgress<Engine.Progress.WorkProgress>
    {
        private IProgressTask? _task;

        public void Report(Engine.Progress.WorkProgress value)
        {
            _task ??= progress.Start("calibrate", value.Total, "windows");
            _task.Report(value);
            if (value.Done >= value.Total) { _task.Dispose(); _task = null; }
        }
    }
}
