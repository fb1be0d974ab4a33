namespace LayerSkip.Samples.Worker;

/// <summary>The "Worker" configuration section.</summary>
public sealed class WorkerOptions
{
    /// <summary>A text file whose first non-empty lines are the prompts; empty uses ../shared/data/tinystories_dev.txt.</summary>
    public string PromptFile { get; set; } = "";
    /// <summary>How many lines to take.</summary>
    public int PromptCount { get; set; } = 8;
    /// <summary>The first words of each line form its prompt (the model continues them).</summary>
    public int PromptWords { get; set; } = 6;
    /// <summary>Requests in flight together (the engine batches them).</summary>
    public int Concurrency { get; set; } = 8;
    /// <summary>Run once at full depth (DefaultSpeedupRatio = 1) before the configured run, and compare.</summary>
    public bool Compare { get; set; } = true;
    /// <summary>Run one untimed batch before timing, so both runs are measured on a warm host.</summary>
    public bool WarmUp { get; set; } = true;
}
