using System.Diagnostics;
using System.Globalization;
using LayerSkip.Engine.Progress;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Training;

/// <summary>One micro-batch's mean loss (a scalar with gradients) and the number of tokens it was averaged over.</summary>
public readonly record struct MicroBatchLoss(Tensor Loss, long Tokens);

/// <summary>Produces the loss of micro-batch <c>micro</c> of optimizer step <c>step</c> (deterministic in both).</summary>
public delegate MicroBatchLoss LossFunction(int step, int micro);

/// <summary>
/// The optimisation loop: AdamW (decoupled weight decay on matrices only), gradient accumulation, global-norm
/// clipping, warm-up plus cosine/linear schedule, a progress line on stderr, and resumable state
/// (<see cref="TrainingState"/> plus the optimizer's moments). Runs on the calling thread; each micro-batch in
/// its own dispose scope.
/// </summary>
internal sealed class Trainer : IDisposable
{
    private readonly TrainingOptions _options;
    private readonly IReadOnlyList<Parameter> _parameters;
    private readonly AdamW _optimizer;
    private readonly string _kind;

    public int Step { get; private set; }
    public long TokensSeen { get; private set; }
    public double LastLoss { get; private set; } = double.NaN;
    /// <summary>Mean loss of every optimizer step run by this instance, in order.</summary>
    public List<double> LossHistory { get; } = [];
    public TextWriter? Log { get; set; } = Console.Error;
    /// <summary>Told after every optimizer step: the step reached of the steps planned, and that step's loss.</summary>
    public IProgress<WorkProgress>? Progress { get; set; }

    public Trainer(string kind, TrainingOptions options, IReadOnlyList<Parameter> parameters)
    {
        if (parameters.Count == 0) throw new ArgumentException("Nothing to train: no parameter requires gradients.", nameof(parameters));
        _kind = kind;
        _options = options;
        _parameters = parameters;
        var decay = parameters.Where(p => p.dim() >= 2).ToList();
        var noDecay = parameters.Where(p => p.dim() < 2).ToList();
        var groups = new List<AdamW.ParamGroup>();
        if (decay.Count > 0) groups.Add(new AdamW.ParamGroup(decay, options.LearningRate, options.Beta1, options.Beta2, 1e-8, options.WeightDecay, false, false));
        if (noDecay.Count > 0) groups.Add(new AdamW.ParamGroup(noDecay, options.LearningRate, options.Beta1, options.Beta2, 1e-8, 0.0, false, false));
        _optimizer = optim.AdamW(groups, options.LearningRate, options.Beta1, options.Beta2, 1e-8, options.WeightDecay);
    }

    /// <summary>Restores the step, token count and optimizer moments saved in <paramref name="folder"/>.</summary>
    public void Resume(string folder)
    {
        var state = TrainingState.TryLoad(folder) ?? throw new InvalidOperationException($"No {TrainingState.FileName} in {folder} to resume from.");
        if (state.Kind != _kind) throw new InvalidOperationException($"{folder} holds a '{state.Kind}' run, not '{_kind}'.");
        _optimizer.load_state_dict(TrainingState.OptimizerPathIn(folder));
        Step = state.Step;
        TokensSeen = state.TokensSeen;
        LastLoss = state.LastLoss;
    }

    /// <summary>Saves the optimizer state and the step beside a checkpoint the caller has written to <paramref name="folder"/>.</summary>
    public void SaveState(string folder)
    {
        Directory.CreateDirectory(folder);
        _optimizer.save_state_dict(TrainingState.OptimizerPathIn(folder));
        new TrainingState(_kind, Step, TokensSeen, LastLoss).Save(folder);
    }

    /// <summary>Runs optimizer steps until <see cref="TrainingOptions.Steps"/>; <paramref name="checkpoint"/> is called every SaveEvery steps.</summary>
    public void Run(LossFunction loss, Action<Trainer>? checkpoint = null)
    {
        var clock = Stopwatch.StartNew();
        long windowTokens = 0;
        double windowLoss = 0;
        var windowSteps = 0;
        var stop = Math.Min(_options.Steps, _options.StopAtStep ?? int.MaxValue);
        while (Step < stop)
        {
            var lr = _options.LearningRateAt(Step);
            foreach (var g in _optimizer.ParamGroups) g.LearningRate = lr;
            double stepLoss = 0;
            long stepTokens = 0;
            for (var micro = 0; micro < _options.GradientAccumulation; micro++)
            {
                using var scope = NewDisposeScope();
                var (value, tokens) = loss(Step, micro);
                (value / _options.GradientAccumulation).backward();
                stepLoss += value.item<float>() / _options.GradientAccumulation;
                stepTokens += tokens;
            }
            using (var scope = NewDisposeScope())
            {
                if (_options.ClipNorm > 0) nn.utils.clip_grad_norm_(_parameters, _options.ClipNorm);
                _optimizer.step();
                _optimizer.zero_grad();
            }
            Step++;
            TokensSeen += stepTokens;
            LastLoss = stepLoss;
            LossHistory.Add(stepLoss);
            windowTokens += stepTokens; windowLoss += stepLoss; windowSteps++;
            Progress?.Report(new WorkProgress(Step, stop, string.Create(CultureInfo.InvariantCulture, $"loss {stepLoss:0.000}")));
            if (Log is not null && (Step % Math.Max(1, _options.LogEvery) == 0 || Step == _options.Steps))
            {
                var seconds = Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{_kind}] step {Step}/{_options.Steps} loss {windowLoss / windowSteps:0.0000} lr {lr:0.###e+0} {windowTokens / seconds:0} tok/s"));
                clock.Restart(); windowTokens = 0; windowLoss = 0; windowSteps = 0;
            }
            if (checkpoint is not null && _options.SaveEvery > 0 && Step % _options.SaveEvery == 0 && Step < _options.Steps) checkpoint(this);
        }
    }

    public void Dispose() => _optimizer.Dispose();
}
