using LayerSkip.Cli.Commands.EndToEnd;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench --e2e: whole requests through the chat client (chat, agent with tools, RAG with a long context),
/// sampling on, one at a time and concurrently, at full depth, with layer skipping and speculative decoding.
/// </summary>
internal static class ChatBenchCommand
{
    public static async Task<int> RunAsync(CliArgs args)
    {
        var options = Parse(args);
        var rows = await new ChatBench(options, Console.Error).RunAsync();
        Console.WriteLine();
        Console.WriteLine(ChatBench.Header);
        foreach (var row in rows) Console.WriteLine(ChatBench.Format(row));
        return 0;
    }

    public static ChatBenchOptions Parse(CliArgs args)
    {
        var defaults = new ChatBenchOptions();
        var options = new ChatBenchOptions
        {
            ModelFolder = args.String("model"),
            Shape = args.String("shape"),
            TokenizerFrom = args.String("tokenizer-from"),
            Scenarios = args.List("scenario", [.. defaults.Scenarios]),
            Modes = args.List("mode", "r1", "r2", "spec").Select(DecodeMode.Parse).ToList(),
            Concurrency = args.IntList("concurrency", [.. defaults.Concurrency]),
            Requests = args.Int("requests") ?? defaults.Requests,
            ContextTokens = args.Int("context-tokens") ?? defaults.ContextTokens,
            ContextFile = args.String("context-file"),
            Temperature = args.Double("temperature") ?? defaults.Temperature,
            TopP = (float)(args.Double("top-p") ?? defaults.TopP),
            TopK = args.Int("top-k") ?? defaults.TopK,
            DType = args.String("dtype"),
            Threads = args.Int("threads"),
            JsonLines = args.String("json"),
        };
        args.EnsureAllUsed();
        if (options.Scenarios.FirstOrDefault(s => !ChatScenario.Names.Contains(s)) is { } unknown)
            throw new CliException($"Unknown scenario '{unknown}' (use {string.Join(", ", ChatScenario.Names)}).");
        if (options.Concurrency.Any(c => c < 1)) throw new CliException("--concurrency values must be at least 1.");
        if (options.Requests < 1) throw new CliException("--requests must be at least 1.");
        if (options.ModelFolder is not null && options.Shape is not null) throw new CliException("Give --model or --shape, not both.");
        if (options.ContextFile is { } f && !File.Exists(f)) throw new CliException($"--context-file: '{f}' not found.");
        return options;
    }
}
