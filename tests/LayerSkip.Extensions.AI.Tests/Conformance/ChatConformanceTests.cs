using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Conformance;

/// <summary>Plain chat: what any Microsoft.Extensions.AI chat provider is expected to do.</summary>
[Collection(ConformanceCollection.Name)]
public class ChatConformanceTests(ConformanceModel model)
{
    private IChatClient Client => model.Client;

    [Fact]
    public async Task ASingleMessageGetsAnAssistantAnswerWithUsage()
    {
        var response = await Client.GetResponseAsync("Once upon a time", ConformanceModel.Options());
        var message = Assert.Single(response.Messages);
        Assert.Equal(ChatRole.Assistant, message.Role);
        Assert.False(string.IsNullOrWhiteSpace(response.Text));
        Assert.True(response.Usage!.InputTokenCount > 0);
        Assert.True(response.Usage.OutputTokenCount > 0);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.NotNull(response.FinishReason);
        Assert.NotNull(response.ModelId);
    }

    [Fact]
    public async Task SeveralMessagesAreAllUsed()
    {
        List<ChatMessage> history =
        [
            new(ChatRole.System, "You tell short stories."),
            new(ChatRole.User, "Tell me about Lily."),
            new(ChatRole.Assistant, "Lily was a little girl who loved her dog."),
            new(ChatRole.User, "What did she do next?"),
        ];
        var response = await Client.GetResponseAsync(history, ConformanceModel.Options());
        var single = await Client.GetResponseAsync(history[^1..], ConformanceModel.Options());
        Assert.False(string.IsNullOrWhiteSpace(response.Text));
        Assert.True(response.Usage!.InputTokenCount > single.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task EmptyMessagesBesideOthersAreAccepted()
    {
        List<ChatMessage> history = [new(ChatRole.System, []), new(ChatRole.User, []), new(ChatRole.Assistant, []), new(ChatRole.User, "Once upon a time")];
        var response = await Client.GetResponseAsync(history, ConformanceModel.Options());
        Assert.Equal(ChatRole.Assistant, Assert.Single(response.Messages).Role);
        Assert.True(response.Usage!.OutputTokenCount > 0);
    }

    [Fact]
    public async Task StreamingEqualsNonStreaming()
    {
        var options = ConformanceModel.Options(seed: 7);
        var whole = await Client.GetResponseAsync("Once upon a time", options);
        var streamed = await Client.GetStreamingResponseAsync("Once upon a time", options).ToChatResponseAsync();
        Assert.Equal(whole.Text, streamed.Text);
        Assert.Equal(whole.FinishReason, streamed.FinishReason);
        Assert.Equal(whole.Usage!.OutputTokenCount, streamed.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task StreamingReportsUsageExactlyOnce()
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in Client.GetStreamingResponseAsync("Once upon a time", ConformanceModel.Options())) updates.Add(u);
        var usage = Assert.Single(updates.SelectMany(u => u.Contents).OfType<UsageContent>());
        Assert.True(usage.Details.InputTokenCount > 0);
        Assert.True(usage.Details.OutputTokenCount > 0);
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
    }

    [Fact]
    public async Task StreamedUpdatesAppendToTheHistory()
    {
        List<ChatMessage> history = [new(ChatRole.User, "Once upon a time")];
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in Client.GetStreamingResponseAsync(history, ConformanceModel.Options())) updates.Add(u);
        history.AddMessages(updates);
        Assert.Equal(2, history.Count);
        Assert.Equal(ChatRole.Assistant, history[1].Role);
        Assert.Equal(string.Concat(updates.Select(u => u.Text)), history[1].Text);
        history.Add(new ChatMessage(ChatRole.User, "And then?"));
        var next = await Client.GetResponseAsync(history, ConformanceModel.Options());
        Assert.False(string.IsNullOrWhiteSpace(next.Text));
    }

    [InstructFact]
    public async Task AQuestionGetsARelevantAnswer()
    {
        var response = await Client.GetResponseAsync("What is the capital of France? Answer with one word.", ConformanceModel.Options());
        Assert.Contains("Paris", response.Text, StringComparison.OrdinalIgnoreCase);
    }

    [InstructFact]
    public async Task TheConversationIsRemembered()
    {
        List<ChatMessage> history =
        [
            new(ChatRole.User, "My name is Ada. Remember it."),
            new(ChatRole.Assistant, "Nice to meet you, Ada."),
            new(ChatRole.User, "What is my name?"),
        ];
        var response = await Client.GetResponseAsync(history, ConformanceModel.Options());
        Assert.Contains("Ada", response.Text);
    }
}
