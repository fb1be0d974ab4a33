using LayerSkip.Engine.Generation.Sampling;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Generation;

/// <summary>
/// One sequence's sampling state: its options, the seed of its random draws and how many it has used, and the
/// tokens it produced (for the penalties). The choice itself is made on the device for the whole batch by
/// <see cref="LogitsSampler"/>; each draw is a function of this sequence's seed and draw number only, so a seeded
/// sequence samples the same tokens whatever it is batched with.
/// </summary>
public sealed class TokenSampler
{
    private readonly Dictionary<int, int> _counts = new();
    private readonly long _seed;
    private long _draws;

    public TokenSampler(SamplingOptions options)
    {
        options.Validate();
        Options = options;
        _seed = options.Seed ?? Random.Shared.NextInt64();
    }

    public SamplingOptions Options { get; }

    public bool IsGreedy => Options.Temperature <= 0;

    /// <summary>
    /// Draws through <see cref="CandidateSet"/> on every device, as a speculative round's draws do: a self-speculative
    /// sequence then draws alike in its plain steps and its rounds, whichever its batch-mates make it take.
    /// </summary>
    internal bool DrawsFromCandidateSets { get; init; }

    /// <summary>Whether the choice depends on earlier output (penalties), which speculative decoding does not model.</summary>
    public bool HasPenalties => Options.FrequencyPenalty != 0 || Options.PresencePenalty != 0;

    /// <summary>How often each token was chosen so far.</summary>
    public IReadOnlyDictionary<int, int> Counts => _counts;

    /// <summary>Counts a chosen token for the penalties.</summary>
    public void Record(int token) => _counts[token] = _counts.GetValueOrDefault(token) + 1;

    /// <summary>The key of this sequence's next random draw (see <see cref="CounterRandom"/>).</summary>
    public long NextKey() => CounterRandom.Key(_seed, _draws++);

    /// <summary>A uniform in (0, 1) from this sequence's next draw.</summary>
    public double NextUniform() => CounterRandom.Uniform(NextKey(), 0);

    /// <summary>
    /// Chooses a token from one row of logits on the CPU and records it: a convenience over
    /// <see cref="LogitsSampler"/> for a single sequence.
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        using var scope = NewDisposeScope();
        return new LogitsSampler().Choose(tensor(logits.ToArray(), [1, logits.Length]), [this])[0];
    }
}
