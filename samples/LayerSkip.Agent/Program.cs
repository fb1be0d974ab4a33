using System.Globalization;
using LayerSkip.Engine.Skipping;
using LayerSkip.Extensions.AI;
using LayerSkip.SemanticKernel;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LayerSkip.Samples.Agent;

/// <summary>
/// A Semantic Kernel agent loop: a kernel with a plugin, the LayerSkip chat completion service and automatic
/// function calling. The layer-skip speed is set only in the execution settings (LayerSkipOptions keep their
/// defaults), so the same kernel serves other speeds per call. Reads user lines from standard input until end of
/// input or /exit; with no input it runs one default turn.
/// The first turn requires a call to story.get_hero (FunctionChoiceBehavior.Required: the client constrains decoding
/// to a well-formed call), so even a model without tool training, like stories260K, calls the plugin and writes its
/// story from the result; later turns let the model choose (Auto).
/// <code>dotnet run --project samples/LayerSkip.Agent [model-folder] [--speedup 1.25] [--policy unified] [--max-tokens 96]</code>
/// </summary>
public static class Program
{
    private const string DefaultTurn = "Once upon a time";

    public static Task<int> Main(string[] args) => RunAsync(args, Console.IsInputRedirected ? Console.In : TextReader.Null, Console.Out);

    public static async Task<int> RunAsync(string[] args, TextReader input, TextWriter output, CancellationToken cancellationToken = default)
    {
        SampleArgs a;
        LayerSkipPromptExecutionSettings settings;
        try
        {
            a = new SampleArgs(args);
            settings = new LayerSkipPromptExecutionSettings
            {
                // The only place the speed is chosen: per call, in the execution settings.
                SpeedupRatio = a.Double("speedup", 1.25),
                SkipPolicy = LayerPlanner.ParsePolicy(a.Get("policy") ?? "unified"),
                FunctionChoiceBehavior = FunctionChoiceBehavior.Auto(),
                ExtensionData = new Dictionary<string, object>
                {
                    ["max_tokens"] = a.Int("max-tokens", 96),
                    ["temperature"] = a.Double("temperature", 0.7),
                },
            };
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            await output.WriteLineAsync($"error: {e.Message}\nusage: LayerSkip.Agent [model-folder] [--speedup R] [--policy NAME] [--max-tokens N] [--temperature T]");
            return 2;
        }

        var builder = Kernel.CreateBuilder();
        var modelPath = SampleData.Model(a.ModelPath);
        try
        {
            builder.AddLayerSkipChatCompletion(o =>
            {
                o.ModelPath = modelPath;
                o.Device = a.Get("device") ?? "auto";
            });
        }
        catch (ArgumentException e)
        {
            await output.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
        var plugin = new StoryPlugin();
        builder.Plugins.AddFromObject(plugin, "story");
        var kernel = builder.Build();
        var firstTurn = (LayerSkipPromptExecutionSettings)settings.Clone();
        firstTurn.FunctionChoiceBehavior = FunctionChoiceBehavior.Required([kernel.Plugins.GetFunction("story", "get_hero")]);
        // The call itself is ~25 tokens of JSON for a byte-level tiny model: give the forced turn room for it and a reply.
        var maxTokens = (int)settings.ExtensionData!["max_tokens"];
        firstTurn.ExtensionData = new Dictionary<string, object>(settings.ExtensionData) { ["max_tokens"] = Math.Max(64, maxTokens) + maxTokens };
        try
        {
            var chat = kernel.GetRequiredService<IChatCompletionService>();
            var history = new ChatHistory();
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"agent on {Path.GetFileName(Path.TrimEndingDirectorySeparator(modelPath))}, speedup {settings.SpeedupRatio} ({settings.SkipPolicy}), tools: story.get_hero, story.get_weather"));

            var turns = 0;
            while (!cancellationToken.IsCancellationRequested)
            {
                await output.WriteAsync("user> ");
                var line = await input.ReadLineAsync(cancellationToken);
                var fromDefault = line is null && turns == 0;
                if (fromDefault) line = DefaultTurn;
                if (line is null || line.Trim() == "/exit") break;
                if (line.Trim().Length == 0) continue;
                if (fromDefault) await output.WriteLineAsync(line);
                turns++;

                history.AddUserMessage(line.Trim());
                var callsBefore = plugin.Calls;
                var reply = await chat.GetChatMessageContentAsync(history, turns == 1 ? firstTurn : settings, kernel, cancellationToken);
                history.Add(reply);
                foreach (var call in plugin.CallLog.Skip(callsBefore))
                    await output.WriteLineAsync($"tool> {call}");
                await output.WriteLineAsync($"agent> {reply.Content}");
                var kept = reply.Metadata?.TryGetValue(LayerSkipPropertyNames.KeptLayers, out var k) == true && k is int[] ks ? string.Join(',', ks) : "?";
                await output.WriteLineAsync($"[layers {kept} | tool calls so far: {plugin.Calls}]");
            }
            return 0;
        }
        finally
        {
            // The kernel's service provider owns the chat client and its engine.
            (kernel.Services as IDisposable)?.Dispose();
        }
    }
}
