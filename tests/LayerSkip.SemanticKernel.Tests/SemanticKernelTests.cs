using LayerSkip.Extensions.AI.Tests.DependencyInjection;
using LayerSkip.Engine.Skipping;
using System.ComponentModel;
using System.Text.Json;
using LayerSkip.Engine.Generation;
using LayerSkip.Extensions.AI;
using LayerSkip.SemanticKernel;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LayerSkip.SemanticKernel.Tests;

/// <summary>One stories260K engine for the Semantic Kernel tests against the real model.</summary>
public sealed class EngineFixture : IDisposable
{
    public InferenceEngine Engine { get; } = InferenceEngine.Load(new EngineOptions { ModelPath = SharedData.Stories260K, Device = "cpu", MaxBatchSize = 4 });
    public void Dispose() => Engine.Dispose();
}

public sealed class WeatherPlugin
{
    public List<string> Places { get; } = [];

    [KernelFunction("get_weather"), Description("Gets today's weather in a place.")]
    public string GetWeather([Description("The place")] string place)
    {
        lock (Places) Places.Add(place);
        return $"sunny in {place}";
    }
}

public class SemanticKernelTests(EngineFixture fx) : IClassFixture<EngineFixture>
{
    private static ChatResponse Text(string text) => new(new ChatMessage(ChatRole.Assistant, text));

    private Kernel RealKernel(out WeatherPlugin plugin)
    {
        var builder = Kernel.CreateBuilder();
        builder.AddLayerSkipChatCompletion(fx.Engine, new LayerSkipOptions { ModelPath = SharedData.Stories260K, DefaultMaxOutputTokens = 12 });
        plugin = new WeatherPlugin();
        builder.Plugins.AddFromObject(plugin, "weather");
        return builder.Build();
    }

    [Fact]
    public async Task InvokePromptRunsOnTheRealEngineWithTheSpeedFromExecutionSettings()
    {
        var kernel = RealKernel(out _);
        var settings = new LayerSkipPromptExecutionSettings { SpeedupRatio = 2, ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 10, ["temperature"] = 0.0 } };
        var result = await kernel.InvokePromptAsync(TestHosts.Prompt, new KernelArguments(settings));
        var message = result.GetValue<ChatMessageContent>()!;
        Assert.StartsWith(",", message.Content);
        Assert.True(message.Content!.Length > 5);
        Assert.Equal([0, 4], Assert.IsType<int[]>(message.Metadata![LayerSkipPropertyNames.KeptLayers]));

        var full = await kernel.InvokePromptAsync(TestHosts.Prompt, new KernelArguments(new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 20, ["temperature"] = 0 } }));
        Assert.StartsWith(", there was a little girl named Lily", full.ToString());
    }

    [Fact]
    public async Task AChatHistoryLoopWithAPluginAndAutoFunctionCallingRunsOnTheRealEngine()
    {
        var kernel = RealKernel(out var plugin);
        var chat = kernel.GetRequiredService<IChatCompletionService>();
        var settings = new PromptExecutionSettings
        {
            FunctionChoiceBehavior = FunctionChoiceBehavior.Auto(),
            ExtensionData = new Dictionary<string, object> { ["speedup_ratio"] = 2.5, ["skip_policy"] = "unified", ["max_tokens"] = 8 },
        };
        var history = new ChatHistory();
        foreach (var turn in new[] { "Once upon a time", "The cat" })
        {
            history.AddUserMessage(turn);
            var reply = await chat.GetChatMessageContentAsync(history, settings, kernel);
            Assert.Equal(AuthorRole.Assistant, reply.Role);
            Assert.False(string.IsNullOrWhiteSpace(reply.Content));
            Assert.Equal([0, 4], Assert.IsType<int[]>(reply.Metadata![LayerSkipPropertyNames.KeptLayers]));
            history.Add(reply);
        }
        Assert.Equal(4, history.Count);
        Assert.Empty(plugin.Places); // the tiny story model never asks for a tool

        var streamed = "";
        await foreach (var part in chat.GetStreamingChatMessageContentsAsync(history, settings, kernel)) streamed += part.Content;
        Assert.False(string.IsNullOrWhiteSpace(streamed));
    }

    [Fact]
    public async Task TheOwningOverloadLoadsTheModelAndTheKernelServicesDisposeIt()
    {
        var builder = Kernel.CreateBuilder();
        builder.AddLayerSkipChatCompletion(TestHosts.Stories);
        var kernel = builder.Build();
        var result = await kernel.InvokePromptAsync(TestHosts.Prompt, new(new LayerSkipPromptExecutionSettings { SkipPolicy = LayerPolicy.EarlyExit, SpeedupRatio = 2 }));
        Assert.Equal([0, 1], Assert.IsType<int[]>(result.GetValue<ChatMessageContent>()!.Metadata![LayerSkipPropertyNames.KeptLayers]));
        var engine = kernel.Services.GetRequiredService<LayerSkipChatClient>().Engine;
        ((IDisposable)kernel.Services).Dispose();
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(new GenerationRequest { PromptTokens = [1, 403], MaxNewTokens = 1 }));
    }

    [Fact]
    public void TheOwningOverloadRejectsInvalidOptionsAtOnce()
    {
        var e = Assert.Throws<ArgumentException>(() => Kernel.CreateBuilder().AddLayerSkipChatCompletion(o => { TestHosts.Stories(o); o.DefaultSpeedupRatio = 0.5; }));
        Assert.Contains("DefaultSpeedupRatio", e.Message);
    }

    public static TheoryData<string, PromptExecutionSettings> SettingsThatAskForSkipping => new()
    {
        { "typed", new LayerSkipPromptExecutionSettings { SpeedupRatio = 2.5, SkipPolicy = LayerPolicy.SkipBottom } },
        { "extension data", new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["speedup_ratio"] = 2.5, ["skip_policy"] = "skipbottom" } } },
        { "json", JsonSerializer.Deserialize<PromptExecutionSettings>("""{ "speedup_ratio": 2.5, "skip_policy": "SkipBottom" }""")! },
        { "typed json", JsonSerializer.Deserialize<LayerSkipPromptExecutionSettings>("""{ "speedup_ratio": 2.5, "skip_policy": "SkipBottom" }""")! },
        { "strings", new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["speedup_ratio"] = "2.5", ["skip_policy"] = "skipbottom" } } },
    };

    [Theory]
    [MemberData(nameof(SettingsThatAskForSkipping))]
    public async Task ExecutionSettingsReachTheChatClientAsLayerSkipKeys(string kind, PromptExecutionSettings settings)
    {
        var inner = new ScriptedChatClient((_, _) => Text("ok"));
        var builder = Kernel.CreateBuilder();
        builder.AddLayerSkipChatCompletion(inner);
        var kernel = builder.Build();

        await kernel.InvokePromptAsync("hello", new KernelArguments(settings));
        var history = new ChatHistory();
        history.AddUserMessage("hello");
        await kernel.GetRequiredService<IChatCompletionService>().GetChatMessageContentsAsync(history, settings, kernel);

        Assert.Equal(2, inner.Requests.Count);
        foreach (var (_, options) in inner.Requests)
        {
            var props = options!.AdditionalProperties!;
            Assert.DoesNotContain("speedup_ratio", props.Keys);
            Assert.DoesNotContain("skip_policy", props.Keys);
            var skip = options.GetLayerSkip();
            Assert.True(skip is not null, kind);
            Assert.Equal(((double?)2.5, (LayerPolicy?)LayerPolicy.SkipBottom), (skip!.SpeedupRatio, skip.Policy));
        }
    }

    [Fact]
    public async Task ExplicitLayersAndModeMapToo()
    {
        var inner = new ScriptedChatClient((_, _) => Text("ok"));
        var chat = LayerSkipChatCompletion.Create(inner);
        var history = new ChatHistory();
        history.AddUserMessage("hello");
        await chat.GetChatMessageContentsAsync(history, new LayerSkipPromptExecutionSettings { SkipPolicy = LayerPolicy.Explicit, Layers = [0, 2, 4] });
        await chat.GetChatMessageContentsAsync(history, new PromptExecutionSettings
        {
            ExtensionData = new Dictionary<string, object> { ["layers"] = new[] { 0, 3, 4 }, ["skip_mode"] = "speculative", ["speedup_ratio"] = 2 },
        });
        var first = inner.Requests[0].Options.GetLayerSkip()!;
        Assert.Equal(LayerPolicy.Explicit, first.Policy);
        Assert.Equal([0, 2, 4], first.Layers!);
        var second = inner.Requests[1].Options.GetLayerSkip()!;
        Assert.Equal(((LayerPolicy?)LayerPolicy.Explicit, (LayerSkipMode?)LayerSkipMode.Speculative, (double?)2.0), (second.Policy, second.Mode, second.SpeedupRatio));
        Assert.Equal([0, 3, 4], second.Layers!);
    }

    [Fact]
    public async Task UnsetSettingsLeaveTheClientDefaults()
    {
        var inner = new ScriptedChatClient((_, _) => Text("ok"));
        var kernel = Kernel.CreateBuilder().AddLayerSkipChatCompletion(inner).Build();
        await kernel.InvokePromptAsync("hello", new KernelArguments(new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 5 } }));
        await kernel.InvokePromptAsync("hello");
        Assert.Equal(5, inner.Requests[0].Options!.MaxOutputTokens);
        Assert.All(inner.Requests, r => Assert.Null(r.Options.GetLayerSkip()));
    }

    [Fact]
    public void TypedSettingsConvertFromPlainOnesAndClone()
    {
        var plain = new PromptExecutionSettings
        {
            ServiceId = "s",
            ExtensionData = new Dictionary<string, object>
            {
                ["speedup_ratio"] = 3, ["skip_policy"] = "earlyexit", ["layers"] = new[] { 0, 4 }, ["max_tokens"] = 9, ["draft_precision"] = "int4",
            },
        };
        var typed = LayerSkipPromptExecutionSettings.FromExecutionSettings(plain);
        Assert.Equal((3.0, LayerPolicy.EarlyExit, "s"), (typed.SpeedupRatio, typed.SkipPolicy, typed.ServiceId));
        Assert.Equal(LayerSkip.Engine.Model.WeightFormat.Int4, typed.DraftPrecision);
        Assert.Equal(LayerSkip.Engine.Model.WeightFormat.Int4, typed.ToRequest().DraftPrecision);
        Assert.Equal([0, 4], typed.Layers);
        Assert.Equal(9, typed.ExtensionData!["max_tokens"]);
        Assert.DoesNotContain("speedup_ratio", typed.ExtensionData.Keys);

        var clone = (LayerSkipPromptExecutionSettings)typed.Clone();
        Assert.Equal((typed.SpeedupRatio, typed.SkipPolicy, typed.DraftPrecision), (clone.SpeedupRatio, clone.SkipPolicy, clone.DraftPrecision));
        typed.Freeze();
        Assert.Throws<InvalidOperationException>(() => typed.SpeedupRatio = 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => clone.SpeedupRatio = 0.5);
        Assert.Contains("\"skip_policy\":\"EarlyExit\"", JsonSerializer.Serialize(clone));
        Assert.Contains("\"draft_precision\":\"Int4\"", JsonSerializer.Serialize(clone));
    }

    [Fact]
    public void TheDraftSourceTravelsThroughExtensionDataJsonAndClones()
    {
        var plain = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["skip_mode"] = "speculative", ["DRAFT_SOURCE"] = "Lookup" } };
        var typed = LayerSkipPromptExecutionSettings.FromExecutionSettings(plain);
        Assert.Equal(DraftSource.Lookup, typed.DraftSource);
        Assert.Null(typed.ExtensionData);
        Assert.Equal((LayerSkipMode.Speculative, DraftSource.Lookup), (typed.ToRequest().Mode!.Value, typed.ToRequest().DraftSource!.Value));
        Assert.Equal(DraftSource.Lookup, ((LayerSkipPromptExecutionSettings)typed.Clone()).DraftSource);

        var json = JsonSerializer.Serialize(typed);
        Assert.Contains("\"draft_source\":\"Lookup\"", json);
        Assert.Equal(DraftSource.Lookup, JsonSerializer.Deserialize<LayerSkipPromptExecutionSettings>("{\"draft_source\":\"lookup\"}")!.DraftSource);
        Assert.Equal(DraftSource.Lookup, JsonSerializer.Deserialize<LayerSkipPromptExecutionSettings>(json)!.DraftSource);
        Assert.Throws<ArgumentOutOfRangeException>(() => ((LayerSkipPromptExecutionSettings)typed.Clone()).DraftSource = (DraftSource)7);
    }

    [Fact]
    public async Task TheDraftSourceReachesTheChatClient()
    {
        var inner = new ScriptedChatClient((_, _) => Text("ok"));
        var chat = LayerSkipChatCompletion.Create(inner);
        var history = new ChatHistory();
        history.AddUserMessage("hello");
        await chat.GetChatMessageContentsAsync(history, new LayerSkipPromptExecutionSettings { Mode = LayerSkipMode.Speculative, DraftSource = DraftSource.Lookup });
        await chat.GetChatMessageContentsAsync(history, new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["skip_mode"] = "speculative", ["draft_source"] = "lookup" } });
        foreach (var (_, options) in inner.Requests)
        {
            Assert.Equal("lookup", options!.AdditionalProperties![LayerSkipPropertyNames.DraftSource]);
            Assert.DoesNotContain("draft_source", options.AdditionalProperties.Keys);
            Assert.Equal(DraftSource.Lookup, options.GetLayerSkip()!.DraftSource);
        }
    }

    [Theory]
    [InlineData("speedup_ratio", "fast")]
    [InlineData("skip_policy", "sideways")]
    [InlineData("skip_mode", "maybe")]
    [InlineData("draft_precision", "int3")]
    [InlineData("draft_source", "prompt")]
    [InlineData("layers", "0,4")]
    public void BadExtensionDataValuesAreArgumentExceptionsNamingTheKey(string key, string value)
    {
        var plain = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { [key] = value } };
        var e = Assert.ThrowsAny<ArgumentException>(() => LayerSkipPromptExecutionSettings.FromExecutionSettings(plain));
        Assert.Contains($"'{key}'", e.Message);
        var bytes = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["speedup_ratio"] = (byte)2, ["layers"] = new byte[] { 0, 4 } } };
        Assert.Equal(2.0, LayerSkipPromptExecutionSettings.FromExecutionSettings(bytes).SpeedupRatio);
    }

    [Fact]
    public async Task AutoFunctionCallingInvokesTheKernelPluginAndSendsTheResultBack()
    {
        // The story model cannot choose tools, so a scripted client asks for one the way a chat model would.
        var inner = new ScriptedChatClient((messages, options) =>
        {
            if (messages.SelectMany(m => m.Contents).OfType<Microsoft.Extensions.AI.FunctionResultContent>().FirstOrDefault() is { } result)
                return Text($"The weather: {result.Result}.");
            var tool = Assert.Single(options!.Tools!);
            return new ChatResponse(new ChatMessage(ChatRole.Assistant,
                [new Microsoft.Extensions.AI.FunctionCallContent("call-1", tool.Name, new Dictionary<string, object?> { ["place"] = "Paris" })]));
        });
        var builder = Kernel.CreateBuilder();
        builder.AddLayerSkipChatCompletion(inner);
        var plugin = new WeatherPlugin();
        builder.Plugins.AddFromObject(plugin, "weather");
        var kernel = builder.Build();
        var settings = new LayerSkipPromptExecutionSettings { SpeedupRatio = 2, FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() };

        // A ChatHistory loop.
        var history = new ChatHistory();
        history.AddUserMessage("What is the weather in Paris?");
        var reply = await kernel.GetRequiredService<IChatCompletionService>().GetChatMessageContentAsync(history, settings, kernel);
        Assert.Equal("The weather: sunny in Paris.", reply.Content);
        Assert.Equal(["Paris"], plugin.Places);
        Assert.Contains(history, m => m.Items.OfType<Microsoft.SemanticKernel.FunctionCallContent>().Any());
        Assert.Contains(history, m => m.Items.OfType<Microsoft.SemanticKernel.FunctionResultContent>().Any(r => Equals(r.Result?.ToString(), "sunny in Paris")));

        // Both model calls carried the speed from the settings; the second carried the tool result.
        Assert.Equal(2, inner.Requests.Count);
        Assert.All(inner.Requests, r => Assert.Equal(2.0, r.Options.GetLayerSkip()!.SpeedupRatio));
        Assert.Contains(inner.Requests[1].Messages.SelectMany(m => m.Contents).OfType<Microsoft.Extensions.AI.FunctionResultContent>(), r => Equals(r.Result?.ToString(), "sunny in Paris"));

        // InvokePromptAsync takes the same path.
        var result = await kernel.InvokePromptAsync("What is the weather in Paris?", new KernelArguments(settings));
        Assert.Equal("The weather: sunny in Paris.", result.ToString());
        Assert.Equal(["Paris", "Paris"], plugin.Places);
    }

    [Fact]
    public async Task TheHostsChatClientServesTheKernelThroughDependencyInjection()
    {
        var builder = TestHosts.Builder();
        builder.Services.AddLayerSkipChatClient(TestHosts.Stories);
        builder.Services.AddLayerSkipChatCompletion();
        builder.Services.AddKernel().Plugins.AddFromType<WeatherPlugin>("weather");
        using var host = builder.Build();
        await host.StartAsync();
        var kernel = host.Services.GetRequiredService<Kernel>();
        var result = await kernel.InvokePromptAsync(TestHosts.Prompt, new(new LayerSkipPromptExecutionSettings { SpeedupRatio = 2, FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() }));
        Assert.Equal([0, 4], Assert.IsType<int[]>(result.GetValue<ChatMessageContent>()!.Metadata![LayerSkipPropertyNames.KeptLayers]));
        await host.StopAsync();
    }
}
