using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace LayerSkip.Engine.Generation;

/// <summary>A running generation: its tokens as they are decoded, and how it ended.</summary>
public sealed class GenerationStream
{
    internal GenerationStream(ChannelReader<int> tokens, Task<GenerationSummary> completion)
    {
        Tokens = tokens;
        Completion = completion;
    }

    public ChannelReader<int> Tokens { get; }
    public Task<GenerationSummary> Completion { get; }

    public async IAsyncEnumerable<int> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var t in Tokens.ReadAllAsync(cancellationToken).ConfigureAwait(false)) yield return t;
    }
}
