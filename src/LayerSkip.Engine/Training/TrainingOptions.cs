namespace LayerSkip.Engine.Training;

public enum LearningRateShape { Cosine, Linear, Constant }

/// <summary>Optimisation settings shared by pretraining, skip-aware adaptation and router training.</summary>
public sealed record TrainingOptions
{
    /// <summary>Optimizer steps (each of <see cref="GradientAccumulation"/> micro-batches).</summary>
    public int Steps { get; init; } = 100;
    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 8;
    public int GradientAccumulation { get; init; } = 1;
    public double LearningRate { get; init; } = 3e-3;
    /// <summary>The learning rate the schedule decays to, as a fraction of <see cref="LearningRate"/>.</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;
    /// <summary>Linear warm-up steps; null: 10% of the steps, at most 100.</summary>
    public int? WarmupSteps { get; init; }
    public LearningRateShape Schedule { get; init; } = LearningRateShape.Cosine;
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    /// <summary>Global gradient-norm clip; 0 or less turns clipping off.</summary>
    public double ClipNorm { get; init; } = 1.0;
    public int Seed { get; init; }
    /// <summary>Progress line every this many steps (stderr).</summary>
    public int LogEvery { get; init; } = 10;
    /// <summary>Save a resumable checkpoint every this many steps (0: only at the end).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Stop (and save) when this step is reached, without changing the schedule: a run cut short on purpose, to resume later.</summary>
    public int? StopAtStep { get; init; }

    public int EffectiveWarmup => WarmupSteps ?? Math.Min(100, Steps / 10);

    /// <summary>The learning rate for optimizer step <paramref name="step"/> (0-based): linear warm-up, then the shape.</summary>
    public double LearningRateAt(int step)
    {
        var warm = EffectiveWarmup;
        if (warm > 0 && step < warm) return LearningRate * (step + 1) / warm;
        var min = LearningRate * MinLearningRateRatio;
        var span = Math.Max(1, Steps - warm);
        var progress = Math.Clamp((double)(step - warm) / span, 0, 1);
        return Schedule switch
        {
            LearningRateShape.Constant => LearningRate,
            LearningRateShape.Linear => LearningRate - (LearningRate - min) * progress,
            _ => min + (LearningRate - min) * 0.5 * (1 + Math.Cos(Math.PI * progress)),
        };
    }
}
