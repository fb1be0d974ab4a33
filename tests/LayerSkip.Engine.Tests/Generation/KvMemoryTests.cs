using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;
using LayerSkip.Tests;

namespace LayerSkip.Engine.Tests.Generation;

/// <summary>
/// The KV memory the engine reports is what its caches hold, computed here from the model's shape: a decode group
/// holds only its plan's layers, the prefix cache holds prompts at full depth, and only prompts a later one can use.
/// </summary>
public class KvMemoryTests
{
    // stories260K: 5 layers, 4 KV heads of 8 dims, float32 on CPU; keys and values.
    private const int Layers = 5;
    private const long BytesPerLayerPosition = 2L * 4 * 8 * sizeof(float);
    // A prefix cache entry also keeps its prompt's last logits: one float row of the 512-token vocabulary.
    private const long LogitsBytes = 512 * sizeof(float);

    private static InferenceEngine Load(long? prefixCacheBytes = null) => InferenceEngine.Load(new EngineOptions
    {
        ModelPath = SharedData.Stories260K, Device = "cpu", ComputeDType = "float32",
        PrefixCacheBytes = prefixCacheBytes ?? EngineOptions.DefaultPrefixCacheBytes,
    });

    private static int[] Tokens(int count, int start) => Enumerable.Range(0, count).Select(i => 3 + (start + i * 7) % 500).ToArray();

    /// <summary>Records the engine's KV figure from inside a decode step (the previous round's measurement).</summary>
    private sealed class KvProbe(InferenceEngine engine, int atCall) : ILogitsProcessor
    {
        private int _calls;
        public long? Seen { get; private set; }
        public void ComputeAllowed(Span<bool> allowed)
        {
            allowed.Fill(true);
            if (++_calls == atCall) Seen = engine.KvCacheBytes;
        }
        public void Accept(int tokenId) { }
    }

    private static Task<long> Settled(InferenceEngine engine) => engine.RunAsync(_ => engine.KvCacheBytes);

    [Fact]
    public async Task DecodingHoldsOnlyThePlansLayersAndThePrefixCacheHoldsThePromptAtFullDepth()
    {
        using var engine = Load();
        var plan = await engine.CreatePlanAsync(LayerPolicy.Unified, 2.5); // keeps 2 of 5 layers
        Assert.Equal(2, plan.KeptLayers.Count);
        var prompt = Tokens(20, 0);
        var probe = new KvProbe(engine, atCall: 4);
        var result = await engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = prompt, MaxNewTokens = 30, Plan = plan, StopTokenIds = [],
            Sampling = new SamplingOptions { Temperature = 0 }, LogitsProcessor = probe,
        });
        Assert.Equal(30, result.Tokens.Count);

        var capacity = prompt.Length + 30; // the group's cache is sized for prompt plus output and never grows here
        var prefixEntry = Layers * prompt.Length * BytesPerLayerPosition + LogitsBytes;
        var decodeGroup = plan.KeptLayers.Count * capacity * BytesPerLayerPosition;
        Assert.Equal(prefixEntry + decodeGroup, probe.Seen);
        Assert.Equal(prefixEntry, await Settled(engine));
        Assert.True(engine.PeakKvCacheBytes >= prefixEntry + decodeGroup);
    }

    [Fact]
    public async Task APromptThatExtendsACachedOneReplacesItAndACoveredPromptAddsNothing()
    {
        using var engine = Load();
        GenerationRequest Request(int[] prompt) => new()
        {
            PromptTokens = prompt, MaxNewTokens = 1, StopTokenIds = [], Sampling = new SamplingOptions { Temperature = 0 },
        };
        var first = Tokens(20, 0);
        var extended = first.Concat(Tokens(12, 100)).ToArray();
        var other = Tokens(16, 300);

        await engine.GenerateAsync(Request(first));
        Assert.Equal(Layers * 20 * BytesPerLayerPosition + LogitsBytes, await Settled(engine));

        var second = await engine.GenerateAsync(Request(extended));
        Assert.Equal(20, second.Summary.ReusedPromptTokens);
        Assert.Equal(Layers * 32 * BytesPerLayerPosition + LogitsBytes, await Settled(engine)); // the 20-token entry is gone

        await engine.GenerateAsync(Request(other));
        Assert.Equal(Layers * (32 + 16) * BytesPerLayerPosition + 2 * LogitsBytes, await Settled(engine));

        var again = await engine.GenerateAsync(Request(first)); // covered by the extended entry: reused, not stored again
        Assert.Equal(19, again.Summary.ReusedPromptTokens);
        Assert.Equal(Layers * (32 + 16) * BytesPerLayerPosition + 2 * LogitsBytes, await Settled(engine));
    }

    [Fact]
    public async Task APrefixCacheBudgetOfZeroKeepsNothing()
    {
        using var engine = Load(prefixCacheBytes: 0);
        await engine.GenerateAsync(new GenerationRequest { PromptTokens = Tokens(20, 0), MaxNewTokens = 2, StopTokenIds = [] });
        Assert.Equal(0, await Settled(engine));
    }
}
