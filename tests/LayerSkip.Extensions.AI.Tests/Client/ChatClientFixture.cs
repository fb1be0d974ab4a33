using LayerSkip.Engine.Generation;
using LayerSkip.Tests;

namespace LayerSkip.Extensions.AI.Tests.Client;

/// <summary>One stories260K engine shared by the client tests, and a client over it.</summary>
public sealed class ChatClientFixture : IDisposable
{
    public ChatClientFixture()
    {
        Engine = InferenceEngine.Load(new EngineOptions { ModelPath = SharedData.Stories260K, Device = "cpu", MaxBatchSize = 16 });
        Client = new LayerSkipChatClient(Engine, new LayerSkipOptions { ModelPath = SharedData.Stories260K, DefaultMaxOutputTokens = 40 });
    }

    public InferenceEngine Engine { get; }
    public LayerSkipChatClient Client { get; }

    public void Dispose()
    {
        Client.Dispose();
        Engine.Dispose();
    }
}
