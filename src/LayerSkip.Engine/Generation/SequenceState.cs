using System.Diagnostics;
using System.Threading.Channels;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Generation;

/// <summary>One request as the scheduler tracks it: its output channel, sampler, counters and timings.</summary>
internal sealed class SequenceState
{
    private readonly Channel<int> _tokens = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource<GenerationSummary> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Stopwatch _clock = new();
    private TimeSpan _prefill;
    private readonly List<int>? _history;

    public SequenceState(GenerationRequest request, LayerPlan plan, IReadOnlyCollection<int> stopTokens, int maxNewTokens, CancellationToken cancellation)
    {
        Request = request;
        Plan = plan;
        StopTokens = stopTokens;
        MaxNewTokens = maxNewTokens;
        Cancellation = cancellation;
        Sampler = new TokenSampler(request.Sampling) { DrawsFromCandidateSets = request.Speculative is not null };
        if (request.Speculative is { } o)
        {
            Drafting = new DraftLength(o.MaxDraftTokens, o.Adaptive, backOff: o.Drafts == DraftSource.Model);
            if (o.Drafts == DraftSource.Lookup) _history = [.. request.PromptTokens];
        }
    }

    public GenerationRequest Request { get; }
    public LayerPlan Plan { get; }
    public IReadOnlyCollection<int> StopTokens { get; }
    public int MaxNewTokens { get; }
    public CancellationToken Cancellation { get; }
    public TokenSampler Sampler { get; }
    public int Generated { get; private set; }
    /// <summary>The token to feed at the next decode step.</summary>
    public int LastToken { get; private set; }
    public bool Finished { get; private set; }
    public int ReusedPromptTokens { get; set; }
    public int DraftedTokens { get; set; }
    public int AcceptedDraftTokens { get; set; }
    public int FullDepthPasses { get; set; }
    public bool Speculative => Request.Speculative is not null;
    /// <summary>This sequence's own draft-length controller (speculative decoding only).</summary>
    public DraftLength? Drafting { get; }
    /// <summary>The prompt and the tokens emitted so far, kept for drafts copied from the context (<see cref="DraftSource.Lookup"/>).</summary>
    public IReadOnlyList<int> History => _history ?? throw new InvalidOperationException("Only sequences that draft by lookup keep their history.");

    /// <summary>
    /// The cost model this sequence chooses its draft length by. A seeded sampled sequence uses the static one:
    /// its random draws follow its draft lengths, so they must not depend on timing or on its batch-mates.
    /// </summary>
    public DraftCosts CostsFrom(DraftCostMeter meter) => DraftsByTiming ? meter.Measured : meter.Static;

    /// <summary>Whether this row's draft lengths may follow measured timings (all but seeded sampled rows).</summary>
    public bool DraftsByTiming => Request.Sampling.Seed is null || Sampler.IsGreedy;

    public ChannelReader<int> Tokens => _tokens.Reader;
    public Task<GenerationSummary> Completion => _completion.Task;

    public void StartPrefill() => _clock.Restart();

    public void EndPrefill()
    {
        _prefill = _clock.Elapsed;
        _clock.Restart();
    }

    /// <summary>Takes the sampled token: emits it, or ends the sequence on a stop token or the length limit.</summary>
    public void Accept(int token, bool atMaxLength)
    {
        Request.LogitsProcessor?.Accept(token);
        if (StopTokens.Contains(token)) { Finish(FinishReason.Stop); return; }
        LastToken = token;
        _history?.Add(token);
        Generated++;
        _tokens.Writer.TryWrite(token);
        if (Generated >= MaxNewTokens || atMaxLength) Finish(FinishReason.Length);
    }

    public void Finish(FinishReason reason, Exception? error = null)
    {
        if (Finished) return;
        Finished = true;
        var summary = new GenerationSummary(reason, Request.PromptTokens.Count, Generated, _prefill, _clock.Elapsed, Plan, ReusedPromptTokens,
            DraftedTokens, AcceptedDraftTokens, FullDepthPasses);
        if (error is not null)
        {
            _tokens.Writer.TryComplete(error);
            _completion.TrySetException(error);
        }
        else if (reason == FinishReason.Cancelled)
        {
            var canceled = new OperationCanceledException(Cancellation);
            _tokens.Writer.TryComplete(canceled);
            _completion.TrySetCanceled(Cancellation);
        }
        else
        {
            _tokens.Writer.TryComplete();
            _completion.TrySetResult(summary);
        }
    }
}
