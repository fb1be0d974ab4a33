using System.Diagnostics;
using System.Globalization;
using LayerSkip.Engine.Skipping;
using LayerSkip.Extensions.AI;
using Microsoft.Extensions.AI;

namespace LayerSkip.Samples.Chat;

/// <summary>
/// Interactive console chat over a local model with layer skipping. Streams each answer, then prints the layer
/// plan and the decode speed. Commands (for the following turns): /speedup R, /policy NAME, /reset, /help, /exit.
/// Reads lines from standard input until end of input or /exit.
/// <code>dotnet run --project samples/LayerSkip.Chat [model-folder] [--speedup 2] [--policy unified] [--max-tokens 64] [--temperature 0.7]</code>
/// </summary>
public static class Program
{
    public static Task<int> Main(string[] args) => RunAsync(args, Console.In, Console.Out);

    public static async Task<int> RunAsync(string[] args, TextReader input, TextWriter output, CancellationToken cancellationToken = default)
    {
        SampleArgs a;
        double speedup;
        LayerPolicy policy;
        try
        {
            a = new SampleArgs(args);
            speedup = a.Double("speedup", 1.0);
            policy = ParsePolicy(a.Get("policy") ?? "unified");
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            await output.WriteLineAsync($"error: {e.Message}\nusage: LayerSkip.Chat [model-folder] [--speedup R] [--policy NAME] [--max-tokens N] [--temperature T] [--device cpu]");
            return 2;
        }

        var options = new LayerSkipOptions
        {
            ModelPath = SampleData.Model(a.ModelPath),
            Device = a.Get("device") ?? "auto",
            DefaultMaxOutputTokens = a.Int("max-tokens", 128),
        };
        LayerSkipChatClient client;
        try
        {
            client = new LayerSkipChatClient(options);
        }
        catch (Exception e)
        {
            await output.WriteLineAsync($"error: could not load the model: {e.Message}");
            return 1;
        }

        using (client)
        {
            var layers = client.Engine.Config.NumLayers;
            await output.WriteLineAsync($"{client.ModelId}: {layers} layers on {client.Engine.DeviceName}. /speedup R, /policy NAME, /reset, /exit.");
            var temperature = (float)a.Double("temperature", 0.7);
            var history = new List<ChatMessage>();
            while (!cancellationToken.IsCancellationRequested)
            {
                await output.WriteAsync("> ");
                var line = await input.ReadLineAsync(cancellationToken);
                if (line is null) break;
                line = line.Trim();
                if (line.Length == 0) continue;
                if (line.StartsWith('/'))
                {
                    var parts = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    var arg = parts.Length > 1 ? parts[1] : null;
                    switch (parts[0].ToLowerInvariant())
                    {
                        case "/exit" or "/quit":
                            return 0;
                        case "/reset":
                            history.Clear();
                            await output.WriteLineAsync("(conversation cleared)");
                            continue;
                        case "/speedup" when arg is not null && double.TryParse(arg, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r >= 1:
                            speedup = r;
                            await output.WriteLineAsync($"(speedup {speedup} from the next turn)");
                            continue;
                        case "/policy" when arg is not null && TryParsePolicy(arg, out var p):
                            policy = p;
                            await output.WriteLineAsync($"(policy {policy} from the next turn)");
                            continue;
                        default:
                            await output.WriteLineAsync("commands: /speedup R (R ≥ 1), /policy " + string.Join('|', LayerPlanner.PolicyNames.Where(n => n != "explicit")) + ", /reset, /exit");
                            continue;
                    }
                }

                history.Add(new ChatMessage(ChatRole.User, line));
                var chatOptions = new ChatOptions { Temperature = temperature }.WithLayerSkip(speedup, policy);
                var updates = new List<ChatResponseUpdate>();
                var started = Stopwatch.GetTimestamp();
                long firstToken = 0;
                try
                {
                    await foreach (var update in client.GetStreamingResponseAsync(history, chatOptions, cancellationToken))
                    {
                        if (firstToken == 0 && update.Text.Length > 0) firstToken = Stopwatch.GetTimestamp();
                        await output.WriteAsync(update.Text);
                        updates.Add(update);
                    }
                }
                catch (ArgumentException e)
                {
                    history.RemoveAt(history.Count - 1);
                    await output.WriteLineAsync($"error: {e.Message}");
                    continue;
                }
                var response = updates.ToChatResponse();
                history.AddMessages(response);
                await output.WriteLineAsync();
                await output.WriteLineAsync(Describe(response, updates[^1].GetLayerSkipInfo(), layers, started, firstToken));
            }
            return 0;
        }
    }

    private static string Describe(ChatResponse response, LayerSkipInfo? info, int layers, long started, long firstToken)
    {
        // What ran rides on the last streamed update.
        var kept = info?.KeptLayers ?? [];
        var policy = info?.Policy.ToString() ?? "?";
        var ratio = info?.SpeedupRatio ?? 1.0;
        var tokens = response.Usage?.OutputTokenCount ?? 0;
        var ended = Stopwatch.GetTimestamp();
        var decode = firstToken == 0 ? 0 : Stopwatch.GetElapsedTime(firstToken, ended).TotalSeconds;
        var rate = tokens > 1 && decode > 0 ? (tokens - 1) / decode : 0;
        return string.Create(CultureInfo.InvariantCulture,
            $"[plan: {policy} r={ratio:0.##}, layers {string.Join(',', kept)} ({kept.Length}/{layers}) | {tokens} tokens, {rate:0.0} tok/s, first token {Stopwatch.GetElapsedTime(started, firstToken == 0 ? ended : firstToken).TotalMilliseconds:0} ms]");
    }

    private static LayerPolicy ParsePolicy(string name) =>
        TryParsePolicy(name, out var p) ? p : throw new ArgumentException($"Unknown policy '{name}'.");

    private static bool TryParsePolicy(string name, out LayerPolicy policy)
    {
        policy = LayerPolicy.None;
        try { policy = LayerPlanner.ParsePolicy(name); }
        catch (ArgumentException) { return false; }
        return policy != LayerPolicy.Explicit;
    }
}
