using System.Diagnostics;
using LayerSkip.Engine.Generation;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip generate: streams the continuation of a prompt to stdout, statistics to stderr.</summary>
internal static class GenerateCommand
{
    public static async Task<int> RunAsync(CliArgs args)
    {
        var prompt = args.Required("prompt");
        var maxTokens = args.Int("max-tokens") ?? 128;
        var temperature = args.Double("temperature");
        var topP = args.Double("top-p");
        var topK = args.Int("top-k");
        var seed = args.Int("seed");
        var planOptions = PlanOptions.From(args);
        var noBos = args.Flag("no-bos");
        using var engine = EngineFactory.Load(args, maxBatchSize: 1);
        args.EnsureAllUsed();

        var plan = await planOptions.BuildAsync(engine);
        var tokenizer = engine.Tokenizer;
        var promptTokens = tokenizer.Encode(prompt, addBos: !noBos && tokenizer.AddBosByDefault);
        var request = new GenerationRequest
        {
            PromptTokens = promptTokens,
            MaxNewTokens = maxTokens,
            Plan = plan,
            Sampling = SamplingOptions.ForModel(engine.Config, temperature, topP, topK, seed),
        };

        var clock = Stopwatch.StartNew();
        var stream = engine.Submit(request);
        var decoder = tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
        var stdout = Console.Out;
        await foreach (var token in stream.ReadAllAsync())
        {
            stdout.Write(decoder.Append(token));
            stdout.Flush();
        }
        stdout.Write(decoder.Flush());
        stdout.WriteLine();
        var summary = await stream.Completion;
        var decodeSeconds = summary.DecodeTime.TotalSeconds;
        Console.Error.WriteLine(
            $"[{EngineFactory.Describe(plan)}] prompt {summary.PromptTokens} tokens, generated {summary.GeneratedTokens} " +
            $"({summary.FinishReason.ToString().ToLowerInvariant()}); prefill {summary.PrefillTime.TotalMilliseconds:0} ms; " +
            $"decode {(summary.GeneratedTokens > 1 && decodeSeconds > 0 ? (summary.GeneratedTokens - 1) / decodeSeconds : 0):0.0} tokens/s; " +
            $"total {clock.Elapsed.TotalSeconds:0.00} s on {engine.DeviceName}/{engine.DTypeName}");
        return 0;
    }
}
