using LayerSkip.Engine.Skipping;
using System.Text;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Client;

public class ChatClientTests(ChatClientFixture fx) : IClassFixture<ChatClientFixture>
{
    private const string Prompt = "Once upon a time";
    private static ChatOptions Greedy(int tokens = 40) => new() { Temperature = 0, MaxOutputTokens = tokens };

    [Fact]
    public async Task AnswersWithTheModelsStoryAndReportsUsageAndFinish()
    {
        var response = await fx.Client.GetResponseAsync(Prompt, Greedy(30));
        Assert.StartsWith(", there was a little girl named Lily", response.Text);
        Assert.Single(response.Messages);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal("stories260K", response.ModelId);
        Assert.NotNull(response.ResponseId);
        Assert.NotNull(response.CreatedAt);

        var promptTokens = fx.Engine.Tokenizer.Encode(Prompt, addBos: true).Count;
        Assert.Equal(promptTokens, response.Usage!.InputTokenCount);
        Assert.Equal(30, response.Usage.OutputTokenCount);
        Assert.Equal(promptTokens + 30, response.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task StreamingAndNonStreamingAgreeUnderASeed()
    {
        var options = new ChatOptions { Temperature = 0.9f, TopP = 0.9f, Seed = 1234, MaxOutputTokens = 40 };
        var whole = await fx.Client.GetResponseAsync(Prompt, options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in fx.Client.GetStreamingResponseAsync(Prompt, options)) updates.Add(u);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        Assert.Single(updates.Select(u => u.MessageId).Distinct());
        Assert.Single(updates.SelectMany(u => u.Contents).OfType<UsageContent>());
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.NotNull(updates[^1].FinishReason);
        Assert.Contains(LayerSkipPropertyNames.KeptLayers, updates[^1].AdditionalProperties!.Keys);

        var other = await fx.Client.GetResponseAsync(Prompt, new ChatOptions { Temperature = 0.9f, TopP = 0.9f, Seed = 99, MaxOutputTokens = 40 });
        Assert.NotEqual(whole.Text, other.Text);
    }

    [Fact]
    public async Task UsageCountsEqualTheEnginesTokenCounts()
    {
        var options = new ChatOptions { Temperature = 1.0f, Seed = 77, MaxOutputTokens = 50 };
        var response = await fx.Client.GetResponseAsync(Prompt, options);
        var direct = await fx.Engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = fx.Engine.Tokenizer.Encode(Prompt, addBos: true),
            MaxNewTokens = 50,
            Sampling = new SamplingOptions { Temperature = 1.0, Seed = unchecked((int)(77L ^ (77L >> 32))) },
        });
        Assert.Equal(direct.Tokens.Count, response.Usage!.OutputTokenCount);
        Assert.Equal(fx.Engine.Tokenizer.Decode(direct.Tokens, skipSpecialTokens: true), response.Text);
        Assert.Equal(direct.Summary.FinishReason == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length, response.FinishReason);
    }

    [Fact]
    public async Task StopSequencesSpanningTokensEndTheTextWithoutLeaking()
    {
        var full = (await fx.Client.GetResponseAsync(Prompt, Greedy(30))).Text;
        const string stop = "girl named";
        Assert.Contains(stop, full);
        var stops = new List<string> { "zebra", stop };
        var options = Greedy(30);
        options.StopSequences = stops;
        var streamed = new StringBuilder();
        ChatResponseUpdate? last = null;
        await foreach (var u in fx.Client.GetStreamingResponseAsync(Prompt, options))
        {
            streamed.Append(u.Text);
            last = u;
            Assert.DoesNotContain("girl n", streamed.ToString());
        }
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], streamed.ToString());
        Assert.Equal(ChatFinishReason.Stop, last!.FinishReason);
        Assert.Equal(["zebra", stop], stops); // the caller's list is untouched
    }

    [Fact]
    public async Task SixteenConcurrentRequestsEachEqualTheirRunAlone()
    {
        ChatOptions Options(int seed) => new() { Temperature = 1.0f, Seed = seed, MaxOutputTokens = 24 };
        var alone = new List<string>();
        for (var i = 0; i < 16; i++) alone.Add((await fx.Client.GetResponseAsync(Prompt, Options(i))).Text);
        var together = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => fx.Client.GetResponseAsync(Prompt, Options(i))));
        for (var i = 0; i < 16; i++) Assert.Equal(alone[i], together[i].Text);
        Assert.True(alone.Distinct().Count() > 8, "different seeds should give different stories");
    }

    [Fact]
    public async Task CancellationStopsTheRequestAndFreesTheEngine()
    {
        using var cts = new CancellationTokenSource();
        var received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in fx.Client.GetStreamingResponseAsync(Prompt, Greedy(400), cts.Token))
                if (++received == 3) cts.Cancel();
        });
        Assert.Equal(3, received);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (fx.Engine.PendingRequests > 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(0, fx.Engine.PendingRequests);
        Assert.StartsWith(", there was", (await fx.Client.GetResponseAsync(Prompt, Greedy(5))).Text);
    }

    [Fact]
    public async Task ACallerThatStopsReadingEarlyFreesTheEngine()
    {
        var stepsAfterBreak = 0;
        var reading = true;
        void Count(LayerSkip.Engine.Skipping.LayerPlan plan, int batch) { if (!reading) Interlocked.Increment(ref stepsAfterBreak); }
        fx.Engine.DecodeStep += Count;
        try
        {
            await foreach (var _ in fx.Client.GetStreamingResponseAsync(Prompt, new ChatOptions { Temperature = 1, Seed = 4, MaxOutputTokens = 400 }))
                break;
            reading = false;
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (fx.Engine.PendingRequests > 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        }
        finally { fx.Engine.DecodeStep -= Count; }
        Assert.Equal(0, fx.Engine.PendingRequests);
        Assert.True(stepsAfterBreak < 10, $"the engine kept decoding {stepsAfterBreak} steps for an abandoned request");
    }

    [Theory]
    [InlineData(1.25, LayerPolicy.Unified, new[] { 0, 1, 2, 4 })]
    [InlineData(2.5, LayerPolicy.Unified, new[] { 0, 4 })]
    [InlineData(2.5, LayerPolicy.EarlyExit, new[] { 0, 1 })]
    [InlineData(1.7, LayerPolicy.SkipBottom, new[] { 3, 4 })]
    [InlineData(1.0, LayerPolicy.Unified, new[] { 0, 1, 2, 3, 4 })]
    public async Task TheReportedPlanMatchesTheRatioAsked(double ratio, LayerPolicy policy, int[] expectedLayers)
    {
        var response = await fx.Client.GetResponseAsync(Prompt, Greedy(5).WithLayerSkip(ratio, policy));
        var props = response.AdditionalProperties!;
        Assert.Equal(expectedLayers, (int[])props[LayerSkipPropertyNames.KeptLayers]!);
        Assert.Equal(policy.ToString(), props[LayerSkipPropertyNames.Policy]);
        Assert.Equal(ratio, (double)props[LayerSkipPropertyNames.SpeedupRatio]!);
    }

    [Fact]
    public async Task ValuesFromJsonConfigurationSelectThePlanToo()
    {
        var options = System.Text.Json.JsonSerializer.Deserialize<ChatOptions>(
            """{"temperature":0,"maxOutputTokens":5,"additionalProperties":{"layerskip.policy":"explicit","layerskip.layers":[0,2,4]}}""",
            AIJsonUtilities.DefaultOptions)!;
        var response = await fx.Client.GetResponseAsync(Prompt, options);
        Assert.Equal(new[] { 0, 2, 4 }, (int[])response.AdditionalProperties![LayerSkipPropertyNames.KeptLayers]!);
    }

    [Fact]
    public async Task PenaltiesAndInstructionsReachTheModel()
    {
        var plain = (await fx.Client.GetResponseAsync(Prompt, Greedy(40))).Text;
        var penalised = (await fx.Client.GetResponseAsync(Prompt, new ChatOptions { Temperature = 0, MaxOutputTokens = 40, FrequencyPenalty = 3, PresencePenalty = 1 })).Text;
        Assert.NotEqual(plain, penalised);
        var instructed = (await fx.Client.GetResponseAsync(Prompt, new ChatOptions { Temperature = 0, MaxOutputTokens = 40, Instructions = "Tom had a big red ball." })).Text;
        Assert.NotEqual(plain, instructed);
    }

    [Fact]
    public async Task SkippingChangesTheOutputButNotItsShape()
    {
        var full = await fx.Client.GetResponseAsync(Prompt, Greedy(30));
        var skipped = await fx.Client.GetResponseAsync(Prompt, Greedy(30).WithLayerSkip(2.5));
        Assert.NotEqual(full.Text, skipped.Text);
        Assert.Equal(30, skipped.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task SpeculativeModeGivesTheFullModelsTextAndReportsAcceptance()
    {
        var full = await fx.Client.GetResponseAsync(Prompt, Greedy(40));
        var speculative = await fx.Client.GetResponseAsync(Prompt, Greedy(40).WithSpeculativeDecoding(2.5));
        Assert.Equal(full.Text, speculative.Text);
        var props = speculative.AdditionalProperties!;
        Assert.Equal("speculative", props[LayerSkipPropertyNames.Mode]);
        Assert.InRange((double)props[LayerSkipPropertyNames.AcceptanceRate]!, 0.0, 1.0);
        Assert.True((double)props[LayerSkipPropertyNames.TokensPerFullPass]! >= 1.0);
    }

    [Fact]
    public async Task LowPrecisionDraftsGiveTheFullModelsText()
    {
        var full = await fx.Client.GetResponseAsync(Prompt, Greedy(40));
        foreach (var options in new[] { Greedy(40).WithDraftPrecision(LayerSkip.Engine.Model.WeightFormat.Int4),
                     Greedy(40).WithSpeculativeDecoding(2.5).WithDraftPrecision(LayerSkip.Engine.Model.WeightFormat.Int8) })
        {
            Assert.Contains(options.AdditionalProperties![LayerSkipPropertyNames.DraftPrecision] as string, new[] { "int4", "int8" });
            var speculative = await fx.Client.GetResponseAsync(Prompt, options);
            Assert.Equal(full.Text, speculative.Text);
            Assert.Equal("speculative", speculative.AdditionalProperties![LayerSkipPropertyNames.Mode]);
            Assert.InRange((double)speculative.AdditionalProperties[LayerSkipPropertyNames.AcceptanceRate]!, 0.0, 1.0);
        }
        Assert.Contains("layerskip.draft_precision",
            (await Assert.ThrowsAnyAsync<ArgumentException>(() => fx.Client.GetResponseAsync(Prompt, new ChatOptions { AdditionalProperties = new() { ["layerskip.draft_precision"] = "int3" } }))).Message);
    }

    [Fact]
    public async Task LookupDraftsGiveTheFullModelsTextWhateverPlanIsAsked()
    {
        var full = await fx.Client.GetResponseAsync(Prompt, Greedy(40));
        // Lookup drafts run no model, so neither a ratio of the request's nor one of the client's defaults applies.
        using var skipping = new LayerSkipChatClient(fx.Engine, new LayerSkipOptions { ModelPath = SharedData.Stories260K, DefaultSpeedupRatio = 2.5 });
        foreach (var (client, options) in new[] { (fx.Client, Greedy(40).WithLookupDrafts()), (fx.Client, Greedy(40).WithSpeculativeDecoding().WithLookupDrafts()), (skipping, Greedy(40).WithLookupDrafts()) })
        {
            Assert.Equal("lookup", options.AdditionalProperties![LayerSkipPropertyNames.DraftSource]);
            var lookup = await client.GetResponseAsync(Prompt, options);
            Assert.Equal(full.Text, lookup.Text);
            var info = lookup.GetLayerSkipInfo()!;
            Assert.Equal(LayerSkipMode.Speculative, info.Mode);
            Assert.Equal(Enumerable.Range(0, fx.Engine.Config.NumLayers), info.KeptLayers);
            // Model drafts would run the full plan here and always be accepted; copied ones are not.
            Assert.InRange(info.AcceptanceRate!.Value, 0.0, 0.99);
            Assert.True(info.TokensPerFullPass >= 1.0);
        }
    }

    [Fact]
    public async Task LookupDraftsTakeNoDraftPrecision()
    {
        var e = await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            fx.Client.GetResponseAsync(Prompt, Greedy(8).WithLookupDrafts().WithDraftPrecision(LayerSkip.Engine.Model.WeightFormat.Int8)));
        Assert.Equal(LayerSkipPropertyNames.DraftPrecision, e.ParamName);
        Assert.Contains(LayerSkipPropertyNames.DraftSource, e.Message);
        Assert.Contains("layerskip.draft_source", (await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            fx.Client.GetResponseAsync(Prompt, new ChatOptions { AdditionalProperties = new() { ["layerskip.draft_source"] = "prompt" } }))).Message);
        // None is the model's own precision, which lookup drafts never change: no conflict.
        var none = await fx.Client.GetResponseAsync(Prompt, Greedy(8).WithLookupDrafts().WithDraftPrecision(LayerSkip.Engine.Model.WeightFormat.None));
        Assert.Equal((await fx.Client.GetResponseAsync(Prompt, Greedy(8))).Text, none.Text);
    }

    [Fact]
    public async Task InvalidRequestsAreRejectedNamingTheProblem()
    {
        async Task<ArgumentException> Bad(ChatOptions o) =>
            await Assert.ThrowsAnyAsync<ArgumentException>(() => fx.Client.GetResponseAsync(Prompt, o));

        Assert.Contains("layerskip.speedup_ratio", (await Bad(new ChatOptions { AdditionalProperties = new() { ["layerskip.speedup_ratio"] = 0.5 } })).Message);
        Assert.Contains("layerskip.speedup_ratio", (await Bad(new ChatOptions { AdditionalProperties = new() { ["layerskip.speedup_ratio"] = double.NaN } })).Message);
        Assert.Contains("layerskip.policy", (await Bad(new ChatOptions { AdditionalProperties = new() { ["layerskip.policy"] = "fastest" } })).Message);
        Assert.Contains("layerskip.layers", (await Bad(new ChatOptions { AdditionalProperties = new() { ["layerskip.layers"] = new[] { 0, 0, 4 } } })).Message);
        Assert.Contains("layerskip.layers", (await Bad(new ChatOptions { AdditionalProperties = new() { ["layerskip.layers"] = new[] { 0, 9 } } })).Message);
        Assert.Contains("other-model", (await Bad(new ChatOptions { ModelId = "other-model" })).Message);
        Assert.Contains("MaxOutputTokens", (await Bad(new ChatOptions { MaxOutputTokens = 0 })).Message);
        Assert.Contains("layerskip.mode", (await Bad(new ChatOptions { AdditionalProperties = new() { ["layerskip.mode"] = "turbo" } })).Message);
        Assert.Contains("layerskip.mode", (await Bad(new ChatOptions { ResponseFormat = ChatResponseFormat.Json }.WithSpeculativeDecoding())).Message);
        var longPrompt = string.Concat(Enumerable.Repeat("Once upon a time there was a cat. ", 200));
        Assert.Contains("maximum sequence length", (await Assert.ThrowsAnyAsync<ArgumentException>(() => fx.Client.GetResponseAsync(longPrompt, Greedy(5)))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChatOptions().WithLayerSkip(0.9));
    }

    [Fact]
    public void ServicesAndMetadataAreExposed()
    {
        var metadata = fx.Client.GetService<ChatClientMetadata>()!;
        Assert.Equal("layerskip", metadata.ProviderName);
        Assert.Equal("stories260K", metadata.DefaultModelId);
        Assert.Equal(new Uri(Path.GetFullPath(SharedData.Stories260K)), metadata.ProviderUri);
        Assert.Same(fx.Engine, fx.Client.GetService<InferenceEngine>());
        Assert.Same(fx.Engine.Tokenizer, fx.Client.GetService<TextTokenizer>());
        Assert.Same(fx.Client, fx.Client.GetService<IChatClient>());
        Assert.Null(fx.Client.GetService<ChatClientMetadata>("some-key"));
    }

    [Fact]
    public async Task DisposeIsIdempotentAndLeavesABorrowedEngineAlone()
    {
        var client = new LayerSkipChatClient(fx.Engine);
        client.Dispose();
        client.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetResponseAsync(Prompt));
        Assert.StartsWith(", there was", (await fx.Client.GetResponseAsync(Prompt, Greedy(5))).Text);
    }

    [Fact]
    public void AClientThatOwnsItsEngineLoadsAndDisposesIt()
    {
        var client = new LayerSkipChatClient(new LayerSkipOptions { ModelPath = SharedData.Stories260K, Device = "cpu" });
        var engine = client.GetService<InferenceEngine>()!;
        client.Dispose();
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(new GenerationRequest { PromptTokens = [1] }));
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => new LayerSkipChatClient(new LayerSkipOptions { ModelPath = "/no/such/folder" })).Message);
    }
}
