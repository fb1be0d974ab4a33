using System.Diagnostics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LayerSkip.Extensions.AI.Tests.Conformance;

/// <summary>The standard Microsoft.Extensions.AI middleware over the client: caching, logging, OpenTelemetry, chat reducers.</summary>
[Collection(ConformanceCollection.Name)]
public class MiddlewareConformanceTests(ConformanceModel model)
{
    /// <summary>Counts the requests that reach the model.</summary>
    private sealed class Counting(IChatClient inner) : DelegatingChatClient(inner)
    {
        public int Calls;
        public List<int> MessageCounts { get; } = [];

        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Calls++;
            MessageCounts.Add(messages.Count());
            return base.GetResponseAsync(messages, options, cancellationToken);
        }

        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Calls++;
            MessageCounts.Add(messages.Count());
            return base.GetStreamingResponseAsync(messages, options, cancellationToken);
        }
    }

    private static IDistributedCache NewCache() => new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ARepeatedRequestIsServedFromTheCache(bool streaming)
    {
        var counting = new Counting(model.NewClient());
        using var client = new ChatClientBuilder(counting).UseDistributedCache(NewCache()).Build();
        var options = ConformanceModel.Options(seed: 3);
        async Task<string> Ask(string prompt) => streaming
            ? (await client.GetStreamingResponseAsync(prompt, options).ToChatResponseAsync()).Text
            : (await client.GetResponseAsync(prompt, options)).Text;
        var first = await Ask("Once upon a time");
        var second = await Ask("Once upon a time");
        Assert.Equal(first, second);
        Assert.Equal(1, counting.Calls);
        await Ask("The dog");
        Assert.Equal(2, counting.Calls);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CachingWorksWithFunctionInvocation(bool cacheOutside)
    {
        var invoked = 0;
        var counting = new Counting(model.NewClient());
        var builder = new ChatClientBuilder(counting);
        // the first middleware added is the outermost
        builder = cacheOutside ? builder.UseDistributedCache(NewCache()).UseFunctionInvocation() : builder.UseFunctionInvocation().UseDistributedCache(NewCache());
        using var client = builder.Build();
        var options = ConformanceModel.Options(seed: 5, maxTokens: 40);
        options.Tools = [AIFunctionFactory.Create(() => { invoked++; return "12:00"; }, "now", "Gets the time")];
        options.ToolMode = ChatToolMode.RequireAny;
        var first = await client.GetResponseAsync("What time is it?", options);
        var calls = counting.Calls;
        Assert.True(calls >= 2); // the forced call, then the answer
        var second = await client.GetResponseAsync("What time is it?", options);
        Assert.Equal(first.Text, second.Text);
        Assert.Equal(calls, counting.Calls); // the model is not asked again
        // a cache around the loop replays the whole exchange; a cache inside it replays the model's call, which runs again
        Assert.Equal(cacheOutside ? 1 : 2, invoked);
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries) Entries.Add((logLevel, formatter(state, exception)));
        }
    }

    private sealed class ListLoggerFactory(ListLogger logger) : ILoggerFactory
    {
        public void AddProvider(ILoggerProvider provider) { }
        public ILogger CreateLogger(string categoryName) => logger;
        public void Dispose() { }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RequestsAndResponsesAreLogged(bool streaming)
    {
        var logger = new ListLogger();
        using var client = new ChatClientBuilder(model.NewClient()).UseLogging(new ListLoggerFactory(logger)).Build();
        var text = streaming
            ? (await client.GetStreamingResponseAsync("Once upon a time", ConformanceModel.Options()).ToChatResponseAsync()).Text
            : (await client.GetResponseAsync("Once upon a time", ConformanceModel.Options())).Text;
        var method = streaming ? "GetStreamingResponseAsync" : "GetResponseAsync";
        Assert.Contains(logger.Entries, e => e.Message.StartsWith(method + " invoked") && e.Message.Contains("Once upon a time"));
        Assert.Contains(logger.Entries, e => e.Message.StartsWith(method + " completed"));
        Assert.False(string.IsNullOrEmpty(text));
    }

    [Fact]
    public async Task OpenTelemetryRecordsAChatActivityWithUsage()
    {
        var source = "layerskip.conformance." + Guid.NewGuid().ToString("N");
        var activities = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (activities) activities.Add(a); },
        };
        ActivitySource.AddActivityListener(listener);
        using var client = new ChatClientBuilder(model.NewClient()).UseOpenTelemetry(sourceName: source).Build();
        var response = await client.GetResponseAsync("Once upon a time", ConformanceModel.Options());
        var activity = Assert.Single(activities);
        Assert.Equal("chat", activity.GetTagItem("gen_ai.operation.name"));
        Assert.Equal(response.Usage!.InputTokenCount, Convert.ToInt64(activity.GetTagItem("gen_ai.usage.input_tokens")));
        Assert.Equal(response.Usage.OutputTokenCount, Convert.ToInt64(activity.GetTagItem("gen_ai.usage.output_tokens")));
        Assert.Equal(response.ModelId, activity.GetTagItem("gen_ai.response.model"));
    }

    [Fact]
    public async Task AReducerTrimsTheHistoryBeforeTheModelSeesIt()
    {
        var counting = new Counting(model.NewClient());
#pragma warning disable MEAI001 // chat reducers are experimental in Microsoft.Extensions.AI
        using var client = new ChatClientBuilder(counting).UseChatReducer(new MessageCountingChatReducer(2)).Build();
#pragma warning restore MEAI001
        List<ChatMessage> history = [];
        for (var turn = 0; turn < 3; turn++)
        {
            history.Add(new ChatMessage(ChatRole.User, $"Turn {turn}: tell me more."));
            var response = await client.GetResponseAsync(history, ConformanceModel.Options(seed: turn, maxTokens: 30));
            history.AddMessages(response);
        }
        Assert.Equal(6, history.Count);
        Assert.All(counting.MessageCounts, n => Assert.True(n <= 2, $"{n} messages reached the model"));
    }
}
