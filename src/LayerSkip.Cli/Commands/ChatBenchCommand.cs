using System.CommandLine;
using LayerSkip.Cli.Commands.EndToEnd;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;

namespace LayerSkip.Cli.Commands;

/// <summary>
/// layerskip bench-chat: whole requests through the chat client (chat, agent with tools, RAG with a long context),
/// sampling on, one at a time and concurrently, at full depth, with layer skipping and speculative decoding.
/// </summary>
internal sealed class ChatBenchCommand : CliCommand
{
    private readonly Option<string?> _model = Opt.Text("--model", "Hugging Face model folder with a tokenizer (and a chat template for tools).", "dir");
    private readonly Option<string?> _shape = Opt.Text("--shape", "Random weights of this shape instead of --model (needs --tokenizer-from).", "name");
    private readonly Option<string?> _tokenizerFrom = Opt.Text("--tokenizer-from", "Folder whose tokenizer and chat template go beside the random weights.", "dir");
    private readonly Option<string> _scenarios = Opt.Value("--scenario", "Scenarios: chat, agent, rag.", "chat,agent,rag", "a,b");
    private readonly Option<string> _modes = Opt.Value("--mode", "Modes: r1 (full depth), rN (unified skip at ratio N), spec (speculative).", "r1,r2,spec", "a,b");
    private readonly Option<int[]> _concurrency = Opt.Ints("--concurrency", "Concurrent requests per measurement (1: --requests one after another).", 1, 16);
    private readonly Option<int> _requests = Opt.Value("--requests", "Requests timed one after another at concurrency 1.", 3);
    private readonly Option<int> _contextTokens = Opt.Value("--context-tokens", "Tokens of context in a RAG request.", 1500);
    private readonly Option<string?> _contextFile = Opt.Text("--context-file", "Text the RAG context is cut from (default: the shared TinyStories text).", "file");
    private readonly Option<double> _temperature = Opt.Value("--temperature", "Sampling temperature.", 0.7);
    private readonly Option<double> _topP = Opt.Value("--top-p", "Nucleus sampling mass.", 0.9);
    private readonly Option<int> _topK = Opt.Value("--top-k", "Top-k sampling.", 40);
    private readonly Option<string?> _dtype = Opt.Text("--dtype", "Compute dtype (default: the model's).", "dtype");
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly Option<string?> _json = SharedOptions.Json();

    public ChatBenchCommand() : base("bench-chat",
        "Time to first token, decode rate and latency of chat, agent and RAG requests through the IChatClient, one at a time and concurrently.") =>
        this.AddAll(_model, _shape, _tokenizerFrom, _scenarios, _modes, _concurrency, _requests, _contextTokens, _contextFile,
            _temperature, _topP, _topK, _dtype, _threads, _json);

    protected override async Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var options = Read(parse);
        var rows = await new ChatBench(options, progress.Log).RunAsync();
        Console.WriteLine();
        Console.WriteLine(ChatBench.Header);
        foreach (var row in rows) Console.WriteLine(ChatBench.Format(row));
        return 0;
    }

    private ChatBenchOptions Read(ParseResult parse)
    {
        static IReadOnlyList<string> Split(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var options = new ChatBenchOptions
        {
            ModelFolder = parse.GetValue(_model),
            Shape = parse.GetValue(_shape),
            TokenizerFrom = parse.GetValue(_tokenizerFrom),
            Scenarios = Split(parse.GetValue(_scenarios)!),
            Modes = Split(parse.GetValue(_modes)!).Select(DecodeMode.Parse).ToList(),
            Concurrency = parse.GetValue(_concurrency)!,
            Requests = parse.GetValue(_requests),
            ContextTokens = parse.GetValue(_contextTokens),
            ContextFile = parse.GetValue(_contextFile),
            Temperature = parse.GetValue(_temperature),
            TopP = (float)parse.GetValue(_topP),
            TopK = parse.GetValue(_topK),
            DType = parse.GetValue(_dtype),
            Threads = parse.GetValue(_threads),
            JsonLines = parse.GetValue(_json),
        };
        if (options.Scenarios.FirstOrDefault(s => !ChatScenario.Names.Contains(s)) is { } unknown)
            throw new CliException($"Unknown scenario '{unknown}' (use {string.Join(", ", ChatScenario.Names)}).");
        if (options.Concurrency.Count == 0 || options.Concurrency.Any(c => c < 1)) throw new CliException("--concurrency values must be at least 1.");
        if (options.Requests < 1) throw new CliException("--requests must be at least 1.");
        if (options.ModelFolder is not null && options.Shape is not null) throw new CliException("Give --model or --shape, not both.");
        if (options.ContextFile is { } f && !File.Exists(f)) throw new CliException($"--context-file: '{f}' not found.");
        return options;
    }
}
