using LayerSkip.Extensions.AI.Tests.DependencyInjection;
using LayerSkip.Engine.Skipping;
using LayerSkip.Extensions.AI;
using LayerSkip.SemanticKernel;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LayerSkip.SemanticKernel.Tests;

/// <summary>
/// What a response ran is on <see cref="ChatResponse.AdditionalProperties"/> however the client is reached: directly,
/// through DI with the usual middleware, and (as message metadata) through Semantic Kernel.
/// </summary>
public class ResponseMetadataTests
{
    // 5 layers at r = 2.5 with Unified keep floor(5/2.5) = 2 layers: the first and the last.
    private static readonly int[] Kept = [0, 4];

    private static void AssertRan(LayerSkipInfo? info)
    {
        Assert.NotNull(info);
        Assert.Equal(Kept, info.KeptLayers);
        Assert.Equal((LayerPolicy.Unified, 2.5, LayerSkipMode.Skip), (info.Policy, info.SpeedupRatio, info.Mode));
    }

    private static void AssertOnTheResponse(ChatResponse response)
    {
        AssertRan(response.GetLayerSkipInfo());
        Assert.Equal(Kept, Assert.IsType<int[]>(response.AdditionalProperties![LayerSkipPropertyNames.KeptLayers]));
        Assert.All(response.Messages, m => Assert.False(m.AdditionalProperties?.ContainsKey(LayerSkipPropertyNames.KeptLayers) == true));
    }

    [Fact]
    public async Task Directly()
    {
        using var client = new LayerSkipChatClient(new LayerSkipOptions { ModelPath = SharedData.Stories260K, Device = "cpu" });
        AssertOnTheResponse(await client.GetResponseAsync(TestHosts.Prompt, TestHosts.Greedy(6).WithLayerSkip(2.5)));

        var updates = await client.GetStreamingResponseAsync(TestHosts.Prompt, TestHosts.Greedy(6).WithLayerSkip(2.5)).ToListAsync();
        AssertRan(updates[^1].GetLayerSkipInfo());
    }

    [Fact]
    public async Task ThroughDependencyInjectionWithLoggingTelemetryFunctionsAndMetrics()
    {
        var builder = TestHosts.Builder(new CapturingLoggerProvider());
        builder.Services.AddLayerSkipChatClient(TestHosts.Stories)
            .UseLogging().UseOpenTelemetry().UseFunctionInvocation().UseLayerSkipMetrics();
        using var host = builder.Build();
        await host.StartAsync();
        var client = host.Services.GetRequiredService<IChatClient>();
        Assert.NotNull(client.GetService<FunctionInvokingChatClient>());

        AssertOnTheResponse(await client.GetResponseAsync(TestHosts.Prompt, TestHosts.Greedy(6).WithLayerSkip(2.5)));
        var updates = await client.GetStreamingResponseAsync(TestHosts.Prompt, TestHosts.Greedy(6).WithLayerSkip(2.5)).ToListAsync();
        AssertRan(updates[^1].GetLayerSkipInfo());
        await host.StopAsync();
    }

    [Fact]
    public async Task ThroughSemanticKernel()
    {
        var builder = Kernel.CreateBuilder();
        builder.AddLayerSkipChatCompletion(o => { o.ModelPath = SharedData.Stories260K; o.Device = "cpu"; });
        var kernel = builder.Build();
        var chat = kernel.GetRequiredService<IChatCompletionService>();
        var history = new ChatHistory();
        history.AddUserMessage(TestHosts.Prompt);

        var reply = await chat.GetChatMessageContentAsync(history, new LayerSkipPromptExecutionSettings { SpeedupRatio = 2.5, ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 6 } }, kernel);
        AssertRan(reply.GetLayerSkipInfo());
        var result = await kernel.InvokePromptAsync(TestHosts.Prompt, new(new LayerSkipPromptExecutionSettings { SpeedupRatio = 2.5 }));
        AssertRan(result.GetValue<ChatMessageContent>()!.GetLayerSkipInfo());
        (kernel.Services as IDisposable)?.Dispose();
    }
}
