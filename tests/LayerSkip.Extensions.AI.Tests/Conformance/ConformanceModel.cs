using LayerSkip.Engine.Generation;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Conformance;

/// <summary>
/// The model the conformance suite runs against: stories260K (a tiny base model, so only provider-level behaviour is
/// checked), or the model folder named by <c>LAYERSKIP_CONFORMANCE_MODEL</c>, an instruction-following model with
/// which the tests that need one run too.
/// </summary>
public sealed class ConformanceModel : IDisposable
{
    public const string Variable = "LAYERSKIP_CONFORMANCE_MODEL";

    /// <summary>The instruction-following model folder given, or null (stories260K).</summary>
    public static string? InstructModelPath => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } p ? p : null;

    public ConformanceModel()
    {
        var path = InstructModelPath ?? SharedData.Stories260K;
        Engine = InferenceEngine.Load(new EngineOptions { ModelPath = path, Device = "cpu", MaxBatchSize = 8, MaxSequenceLength = InstructModelPath is null ? null : 4096 });
        _options = new LayerSkipOptions { ModelPath = path, DefaultMaxOutputTokens = InstructModelPath is null ? 40 : 256 };
        Client = new LayerSkipChatClient(Engine, _options);
    }

    private readonly LayerSkipOptions _options;

    public InferenceEngine Engine { get; }
    public LayerSkipChatClient Client { get; }

    /// <summary>A fresh client over the shared engine (for pipelines the test disposes).</summary>
    public IChatClient NewClient() => new LayerSkipChatClient(Engine, _options);

    /// <summary>Seeded options so that runs repeat; greedy with an instruction model.</summary>
    public static ChatOptions Options(int seed = 1, int? maxTokens = null) => new()
    {
        Temperature = InstructModelPath is null ? 0.8f : 0f, Seed = seed, MaxOutputTokens = maxTokens,
    };

    public void Dispose()
    {
        Client.Dispose();
        Engine.Dispose();
    }
}

/// <summary>A test that needs a model that follows instructions (answers questions, decides to call tools): skipped
/// on stories260K, run when <c>LAYERSKIP_CONFORMANCE_MODEL</c> names such a model folder.</summary>
public sealed class InstructFactAttribute : FactAttribute
{
    public InstructFactAttribute()
    {
        if (ConformanceModel.InstructModelPath is null)
            Skip = $"Needs an instruction-following model: stories260K only continues stories. Set {ConformanceModel.Variable} to a model folder to run it.";
    }
}

[CollectionDefinition(Name)]
public sealed class ConformanceCollection : ICollectionFixture<ConformanceModel>
{
    public const string Name = "Conformance";
}
