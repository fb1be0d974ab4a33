using System.ComponentModel;
using LayerSkip.Engine.Tokenization;
using Microsoft.Extensions.AI;

namespace LayerSkip.Cli.Commands.EndToEnd;

/// <summary>A kind of request an application sends: its messages, tools and answer length.</summary>
internal sealed record ChatScenario(string Name, IReadOnlyList<ChatMessage> Messages, IList<AITool>? Tools, int MaxOutputTokens)
{
    public static IReadOnlyList<string> Names { get; } = ["chat", "agent", "rag"];

    private static readonly string[] Subjects = ["a cat who wants to fly", "a dragon afraid of the dark", "two friends who find a map", "a robot learning to paint"];
    private static readonly string[] Cities = ["Lisbon", "Oslo", "Kyoto", "Lima", "Accra", "Perth"];

    /// <summary>
    /// The scenario's request number <paramref name="request"/>. Requests differ in their user text (and the RAG
    /// context in its slice of <paramref name="contextText"/>), so the engine's prefix cache only reuses what real
    /// traffic shares: the system prompt and tool declarations.
    /// </summary>
    /// <param name="context">Tokens of the text the RAG scenario cuts its <paramref name="contextTokens"/>-token context from.</param>
    public static ChatScenario Create(string name, TextTokenizer tokenizer, IReadOnlyList<int> context, int contextTokens, int request) => name switch
    {
        "chat" => new("chat", [new(ChatRole.User, $"Tell me a short story about {Subjects[request % Subjects.Length]}. (#{request})")], null, 64),
        "agent" => new("agent",
        [
            new(ChatRole.System, "You are the assistant of a travel agency. Answer briefly. Use the tools to look up the weather and to book tables; never invent a booking."),
            new(ChatRole.User, $"What is the weather in {Cities[request % Cities.Length]} tomorrow, and can you book a table for {2 + request % 5} at 8 pm near the river?"),
        ], [AIFunctionFactory.Create(Weather), AIFunctionFactory.Create(BookTable)], 64),
        "rag" => new("rag",
        [
            new(ChatRole.System, "Answer the question using only the context. If the context does not say, answer that you do not know."),
            new(ChatRole.User, $"Context:\n{Cut(tokenizer, context, contextTokens, request)}\n\nQuestion: What happens to the main character at the end of the last story?"),
        ], null, 128),
        _ => throw new CliException($"Unknown scenario '{name}' (use {string.Join(", ", Names)})."),
    };

    /// <summary><paramref name="tokens"/> tokens of the context from a place that depends on the request (the text wraps around).</summary>
    private static string Cut(TextTokenizer tokenizer, IReadOnlyList<int> ids, int tokens, int request)
    {
        if (ids.Count == 0) throw new CliException("The RAG scenario needs context text (--context-file).");
        var start = (int)((long)request * 997 % ids.Count);
        return tokenizer.Decode(Enumerable.Range(start, tokens).Select(i => ids[i % ids.Count]), skipSpecialTokens: true);
    }

    [Description("Gets the weather forecast for a city and day.")]
    private static string Weather([Description("city name")] string city, [Description("day, e.g. tomorrow")] string day) => $"Sunny in {city} {day}, 24 °C.";

    [Description("Books a restaurant table.")]
    private static string BookTable([Description("restaurant or area")] string place, [Description("number of people")] int people, [Description("time, e.g. 20:00")] string time) =>
        $"Booked a table for {people} at {time} at {place}.";
}
