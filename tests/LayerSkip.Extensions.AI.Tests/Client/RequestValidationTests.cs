using System.Text.Json;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Loading;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Client;

/// <summary>Requests the model cannot serve are refused with a clear exception; values are read by value and shown readably.</summary>
public class RequestValidationTests(ChatClientFixture fx) : IClassFixture<ChatClientFixture>
{
    private static ChatOptions Greedy(int tokens = 8) => new() { Temperature = 0, MaxOutputTokens = tokens };

    public static TheoryData<string> MediaContents() => new() { "image", "audio", "uri", "file" };

    private static AIContent Media(string kind) => kind switch
    {
        "image" => new DataContent(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, "image/png"),
        "audio" => new DataContent(new byte[] { 1, 2, 3 }, "audio/wav"),
        "uri" => new UriContent(new Uri("https://example.com/cat.jpg"), "image/jpeg"),
        _ => new HostedFileContent("file-123"),
    };

    [Theory]
    [MemberData(nameof(MediaContents))]
    public async Task ContentTheModelCannotReadIsRefusedNamingItsType(string kind)
    {
        // Alone, or beside text: either way the model would silently not see it.
        foreach (var contents in new[] { new List<AIContent> { Media(kind) }, [new TextContent("Describe this:"), Media(kind)] })
        {
            var e = await Assert.ThrowsAsync<NotSupportedException>(() =>
                fx.Client.GetResponseAsync([new ChatMessage(ChatRole.User, contents)], Greedy()));
            Assert.Contains(Media(kind).GetType().Name, e.Message);
            if (Media(kind) is DataContent d) Assert.Contains(d.MediaType, e.Message);
        }
    }

    [Fact]
    public async Task AnEmptyConversationIsRefused()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => fx.Client.GetResponseAsync(Array.Empty<ChatMessage>(), Greedy()));
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            fx.Client.GetResponseAsync([new ChatMessage(ChatRole.User, ""), new ChatMessage(ChatRole.User, (string?)null)], Greedy()));
        Assert.Contains("no content", e.Message);
    }

    [Fact]
    public async Task AnEmptyMessageIsFineBesideOnesWithContent()
    {
        var alone = await fx.Client.GetResponseAsync("Once upon a time", Greedy());
        var beside = await fx.Client.GetResponseAsync(
            [new ChatMessage(ChatRole.System, ""), new ChatMessage(ChatRole.User, "Once upon a time")], Greedy());
        Assert.Equal(alone.Text, beside.Text);
    }

    [Fact]
    public async Task AnEmptyStopSequenceIsRefusedNamingStopSequences()
    {
        var options = Greedy();
        options.StopSequences = [""];
        var e = await Assert.ThrowsAsync<ArgumentException>(() => fx.Client.GetResponseAsync("Once upon a time", options));
        Assert.Equal("StopSequences", e.ParamName);
    }

    public static TheoryData<object> TwoOfEveryNumericType() => new()
    {
        (byte)2, (sbyte)2, (short)2, (ushort)2, 2, 2u, 2L, 2UL, 2.0f, 2.0, 2m, (Half)2, JsonDocument.Parse("2").RootElement, "2",
    };

    [Theory]
    [MemberData(nameof(TwoOfEveryNumericType))]
    public void ASpeedupRatioOfAnyNumericTypeIsReadByValue(object two)
    {
        var options = new ChatOptions { AdditionalProperties = new() { [LayerSkipPropertyNames.SpeedupRatio] = two } };
        Assert.Equal(2.0, options.GetLayerSkip()!.SpeedupRatio);
    }

    [Fact]
    public void LayerListsOfAnyIntegerTypeAreReadAndBadOnesAreShownReadably()
    {
        foreach (object layers in new object[] { new byte[] { 0, 4 }, new long[] { 0, 4 }, new List<short> { 0, 4 }, new double[] { 0, 4 }, JsonDocument.Parse("[0,4]").RootElement })
        {
            var options = new ChatOptions { AdditionalProperties = new() { [LayerSkipPropertyNames.Layers] = layers } };
            Assert.Equal([0, 4], options.GetLayerSkip()!.Layers!);
        }
        var empty = new ChatOptions { AdditionalProperties = new() { [LayerSkipPropertyNames.Layers] = Array.Empty<int>() } };
        var e = Assert.Throws<ArgumentException>(() => empty.GetLayerSkip());
        Assert.Contains("got '[]'", e.Message);
        Assert.DoesNotContain("System.", e.Message);
        var fractional = new ChatOptions { AdditionalProperties = new() { [LayerSkipPropertyNames.Layers] = new[] { 0.5, 1.0 } } };
        Assert.Contains("got '[0.5, 1]'", Assert.Throws<ArgumentException>(() => fractional.GetLayerSkip()).Message);
        var small = new ChatOptions { AdditionalProperties = new() { [LayerSkipPropertyNames.SpeedupRatio] = (byte)0 } };
        Assert.Contains("got '0'", Assert.Throws<ArgumentException>(() => small.GetLayerSkip()).Message);
    }

    [Fact]
    public async Task TheResponseReportsTheKvCacheTheEngineHolds()
    {
        // A fresh engine, so the prefix cache holds only this request's prompt.
        using var engine = InferenceEngine.Load(new EngineOptions { ModelPath = SharedData.Stories260K, Device = "cpu", ComputeDType = "float32" });
        using var client = new LayerSkipChatClient(engine);
        const string prompt = "Once upon a time, there was a little girl named Lily. She liked to play outside.";
        var options = Greedy(12).WithLayerSkip(2.5); // 2 of 5 layers decode
        var response = await client.GetResponseAsync(prompt, options);

        var n = engine.Tokenizer.Encode(prompt, addBos: true).Count;
        const long perLayerPosition = 2L * 4 * 8 * sizeof(float); // keys and values, 4 KV heads of 8 dims
        var prefix = 5 * n * perLayerPosition + 512 * sizeof(float); // and the prompt's last logits (vocabulary 512)
        var group = 2 * (n + 12) * perLayerPosition;
        var reported = Assert.IsType<long>(response.AdditionalProperties![LayerSkipPropertyNames.KvCacheBytes]);
        // Measured after the engine's last round: with this request's decode rows, or just after they were released.
        Assert.Contains(reported, new[] { prefix, prefix + group });
        Assert.Equal(prefix, await engine.RunAsync(_ => engine.KvCacheBytes));
    }

    [Fact]
    public void AChatTemplateThatDoesNotParseNamesTokenizerConfigJson()
    {
        var folder = Path.Combine(Path.GetTempPath(), "layerskip-template", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            foreach (var file in Directory.GetFiles(SharedData.Stories260K))
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            var configPath = Path.Combine(folder, "tokenizer_config.json");
            var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            config["chat_template"] = "{% for m in messages %}{{ m.content }";
            File.WriteAllText(configPath, config.ToJsonString());

            var e = Assert.Throws<ModelLoadException>(() => new LayerSkipChatClient(new LayerSkipOptions { ModelPath = folder, Device = "cpu" }));
            Assert.Equal(configPath, e.FilePath);
            Assert.Contains("chat template", e.Message);

            config["chat_template"] = 42;
            File.WriteAllText(configPath, config.ToJsonString());
            Assert.Equal(configPath, Assert.Throws<ModelLoadException>(() => new LayerSkipChatClient(new LayerSkipOptions { ModelPath = folder, Device = "cpu" })).FilePath);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
