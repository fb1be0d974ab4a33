using LayerSkip.Engine.Skipping;
using LayerSkip.Engine.Generation;
using LayerSkip.Extensions.AI;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LayerSkip.Extensions.AI.Tests.DependencyInjection;

public class DependencyInjectionTests
{
    [Fact]
    public async Task AHostLoadsTheEngineAtStartAndAnswersWithTheRealModel()
    {
        var logs = new CapturingLoggerProvider();
        var builder = TestHosts.Builder(logs);
        builder.Services.AddLayerSkipChatClient(TestHosts.Stories).UseLogging();
        using var host = builder.Build();
        await host.StartAsync();

        // Loaded by the hosted service, before any request.
        Assert.Contains(logs.Lines, l => l.Category == "LayerSkip.Engine" && l.Message.Contains("loaded stories260K"));

        var client = host.Services.GetRequiredService<IChatClient>();
        var response = await client.GetResponseAsync(TestHosts.Prompt, TestHosts.Greedy(20));
        Assert.StartsWith(", there was a little girl named Lily", response.Text);
        Assert.Equal(20, response.Usage!.OutputTokenCount);
        Assert.Equal([0, 1, 2, 3, 4], TestHosts.KeptLayers(response));
        Assert.Equal("stories260K", client.GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.Same(host.Services.GetRequiredService<InferenceEngine>(), client.GetService<InferenceEngine>());

        // The speed travels per request; the pipeline (with logging middleware) passes it through.
        var fast = await client.GetResponseAsync(TestHosts.Prompt, TestHosts.Greedy(8).WithLayerSkip(2));
        Assert.Equal([0, 4], TestHosts.KeptLayers(fast));
        await host.StopAsync();
    }

    [Fact]
    public async Task OptionsBindFromConfigurationAndSetTheDefaults()
    {
        var builder = TestHosts.Builder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LayerSkip:ModelPath"] = SharedData.Stories260K,
            ["LayerSkip:Device"] = "cpu",
            ["LayerSkip:DefaultSpeedupRatio"] = "2",
            ["LayerSkip:DefaultSkipPolicy"] = "earlyexit",
            ["LayerSkip:MaxBatchSize"] = "3",
            ["LayerSkip:MaxSequenceLength"] = "256",
            ["LayerSkip:ModelId"] = "tiny",
            ["LayerSkip:DefaultMaxOutputTokens"] = "6",
            ["LayerSkip:RandomPolicySeed"] = "7",
        });
        builder.Services.AddLayerSkipChatClient(builder.Configuration.GetSection("LayerSkip"));
        using var host = builder.Build();
        await host.StartAsync();

        var o = host.Services.GetRequiredService<IOptions<LayerSkipOptions>>().Value;
        Assert.Equal((SharedData.Stories260K, "cpu", 2.0, LayerPolicy.EarlyExit, 3, 256, "tiny", 6, 7),
            (o.ModelPath, o.Device, o.DefaultSpeedupRatio, o.DefaultSkipPolicy, o.MaxBatchSize, o.MaxSequenceLength, o.ModelId, o.DefaultMaxOutputTokens, o.RandomPolicySeed));
        var engine = host.Services.GetRequiredService<InferenceEngine>();
        Assert.Equal((3, 256), (engine.MaxBatchSize, engine.MaxSequenceLength));

        var response = await host.Services.GetRequiredService<IChatClient>().GetResponseAsync(TestHosts.Prompt, new ChatOptions { Temperature = 0 });
        Assert.Equal("tiny", response.ModelId);
        Assert.InRange(response.Usage!.OutputTokenCount!.Value, 1, 6);
        Assert.Equal("EarlyExit", TestHosts.Property(response, LayerSkipPropertyNames.Policy));
        Assert.Equal([0, 1], TestHosts.KeptLayers(response));
        await host.StopAsync();
    }

    [Fact]
    public void TheParameterlessOverloadBindsTheLayerSkipSection()
    {
        var builder = TestHosts.Builder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LayerSkip:ModelPath"] = SharedData.Stories260K,
            ["LayerSkip:DefaultSpeedupRatio"] = "1.5",
            ["LayerSkip:DefaultSkipPolicy"] = "SkipBottom",
        });
        builder.Services.AddLayerSkipChatClient();
        using var host = builder.Build();
        var o = host.Services.GetRequiredService<IOptions<LayerSkipOptions>>().Value;
        Assert.Equal((SharedData.Stories260K, 1.5, LayerPolicy.SkipBottom), (o.ModelPath, o.DefaultSpeedupRatio, o.DefaultSkipPolicy));
    }

    [Fact]
    public async Task AMissingModelFolderStopsTheHostFromStartingAndNamesTheOption()
    {
        var missing = Path.Combine(Path.GetTempPath(), "layerskip-no-such-model-" + Guid.NewGuid().ToString("N"));
        var builder = TestHosts.Builder();
        builder.Services.AddLayerSkipChatClient(o => o.ModelPath = missing);
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("LayerSkipOptions.ModelPath", e.Message);
        Assert.Contains(missing, e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public async Task AnEmptyModelPathStopsTheHostFromStarting()
    {
        var builder = TestHosts.Builder();
        builder.Services.AddLayerSkipChatClient(builder.Configuration.GetSection("NoSuchSection"));
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("LayerSkipOptions.ModelPath is required", e.Message);
    }

    [Theory]
    [InlineData("0.5")]
    [InlineData("0")]
    [InlineData("NaN")]
    public async Task ARatioBelowOneStopsTheHostFromStartingAndNamesTheOption(string ratio)
    {
        var builder = TestHosts.Builder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LayerSkip:ModelPath"] = SharedData.Stories260K,
            ["LayerSkip:DefaultSpeedupRatio"] = ratio,
        });
        builder.Services.AddLayerSkipChatClient(builder.Configuration.GetSection("LayerSkip"));
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("LayerSkipOptions.DefaultSpeedupRatio", e.Message);
        Assert.Contains("≥ 1", e.Message);
    }

    [Theory]
    [InlineData("int8", "int2", "LayerSkipOptions.QuantizationHead")]
    [InlineData("none", "int8", "LayerSkipOptions.QuantizationHead")]
    [InlineData("int4", null, "LayerSkipOptions.QuantizationGroupSize", "96")]
    public async Task BadQuantizationSettingsStopTheHostFromStartingAndNameTheOption(string quantization, string? head, string named, string? groupSize = null)
    {
        var builder = TestHosts.Builder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LayerSkip:ModelPath"] = SharedData.Stories260K,
            ["LayerSkip:Quantization"] = quantization,
            ["LayerSkip:QuantizationHead"] = head,
            ["LayerSkip:QuantizationGroupSize"] = groupSize,
        });
        builder.Services.AddLayerSkipChatClient(builder.Configuration.GetSection("LayerSkip"));
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public async Task AnInvalidKeyedRegistrationIsNamedInTheMessage()
    {
        var builder = TestHosts.Builder();
        builder.Services.AddKeyedLayerSkipChatClient("fast", o => { TestHosts.Stories(o); o.DefaultSpeedupRatio = 0.9; });
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("DefaultSpeedupRatio", e.Message);
        Assert.Contains("'fast'", e.Message);
    }

    [Fact]
    public async Task KeyedRegistrationsServeTwoConfigurationsSideBySide()
    {
        var builder = TestHosts.Builder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Models:fast:ModelPath"] = SharedData.Stories260K,
            ["Models:fast:Device"] = "cpu",
            ["Models:fast:DefaultSpeedupRatio"] = "2.5",
            ["Models:fast:ModelId"] = "stories-fast",
        });
        builder.Services.AddKeyedLayerSkipChatClient("full", o => { TestHosts.Stories(o); o.ModelId = "stories-full"; });
        builder.Services.AddKeyedLayerSkipChatClient("fast", builder.Configuration.GetSection("Models:fast"));
        using var host = builder.Build();
        await host.StartAsync();

        var monitor = host.Services.GetRequiredService<IOptionsMonitor<LayerSkipOptions>>();
        Assert.Equal(1.0, monitor.Get("full").DefaultSpeedupRatio);
        Assert.Equal(2.5, monitor.Get("fast").DefaultSpeedupRatio);
        Assert.Null(host.Services.GetService<IChatClient>());
        Assert.NotSame(host.Services.GetRequiredKeyedService<InferenceEngine>("full"), host.Services.GetRequiredKeyedService<InferenceEngine>("fast"));

        var full = host.Services.GetRequiredKeyedService<IChatClient>("full");
        var fast = host.Services.GetRequiredKeyedService<IChatClient>("fast");
        var answers = await Task.WhenAll(full.GetResponseAsync(TestHosts.Prompt, TestHosts.Greedy(8)), fast.GetResponseAsync(TestHosts.Prompt, TestHosts.Greedy(8)));
        Assert.Equal(("stories-full", "stories-fast"), (answers[0].ModelId, answers[1].ModelId));
        Assert.Equal([0, 1, 2, 3, 4], TestHosts.KeptLayers(answers[0]));
        Assert.Equal([0, 4], TestHosts.KeptLayers(answers[1]));
        await host.StopAsync();
    }

    [Fact]
    public async Task DisposingThePipelineLeavesTheEngineAndDisposingTheHostDisposesIt()
    {
        var builder = TestHosts.Builder();
        builder.Services.AddLayerSkipChatClient(TestHosts.Stories).UseLogging();
        var host = builder.Build();
        await host.StartAsync();
        var engine = host.Services.GetRequiredService<InferenceEngine>();
        var client = host.Services.GetRequiredService<IChatClient>();

        client.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetResponseAsync(TestHosts.Prompt));
        var direct = await engine.GenerateAsync(new GenerationRequest { PromptTokens = [1, 403, 407], MaxNewTokens = 3 });
        Assert.Equal(3, direct.Tokens.Count);

        await host.StopAsync();
        host.Dispose();
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(new GenerationRequest { PromptTokens = [1, 403], MaxNewTokens = 1 }));
    }

    [Fact]
    public void AContainerWithoutAHostStillServesTheClientAndOwnsTheEngine()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddLayerSkipChatClient(TestHosts.Stories);
        InferenceEngine engine;
        using (var provider = services.BuildServiceProvider())
        {
            var client = provider.GetRequiredService<IChatClient>();
            engine = client.GetService<InferenceEngine>()!;
            Assert.Same(engine, provider.GetRequiredService<InferenceEngine>());
        }
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(new GenerationRequest { PromptTokens = [1, 403], MaxNewTokens = 1 }));
    }

    [Fact]
    public void KeysNameTheirOptions()
    {
        Assert.Equal(Options.DefaultName, LayerSkipServiceCollectionExtensions.GetOptionsName(null));
        Assert.Equal("fast", LayerSkipServiceCollectionExtensions.GetOptionsName("fast"));
        Assert.Equal("42", LayerSkipServiceCollectionExtensions.GetOptionsName(42));
        Assert.Throws<ArgumentException>(() => LayerSkipServiceCollectionExtensions.GetOptionsName(""));
    }
}
