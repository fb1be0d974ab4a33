using LayerSkip.Cli;
using LayerSkip.Cli.Commands;

const string usage = """
layerskip — local LLaMA-family inference with Unified Layer Skipping

  layerskip generate   --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S]
                       [--speedup R] [--policy NAME] [--layers 0,3,7] [--device auto|cpu|cuda] [--dtype float32|bfloat16]
  layerskip perplexity --model DIR --file F [--max-tokens N] [--speedup R] [--policy NAME] [--context-tokens 16] [--window N]
  layerskip eval       --model DIR --file F [--speedup 1.5,2,3] [--policy unified,earlyexit,...] [--max-tokens N] [--markdown FILE]
  layerskip plan       --layers L --speedup R [--policy NAME] [--seed S] [--explicit 0,5,9]
  layerskip bench      [--shape NAME] [--dtype float32|bfloat16] [--batch 1,16] [--speedup 1,2,3,4] [--policy unified,earlyexit,...]
                       [--tokens N] [--prompt-tokens N] [--repeats N] [--json FILE] [--device cpu|cuda]
  layerskip bench --e2e (--model DIR | --shape NAME --tokenizer-from DIR) [--scenario chat,agent,rag] [--mode r1,r2,spec]
                       [--concurrency 1,16] [--requests N] [--context-tokens 1500] [--context-file F] [--temperature T]
                       [--top-p P] [--top-k K] [--threads N] [--json FILE]
  layerskip bench-speculative (--model DIR | --shape NAME [--plant]) [--batch 1,4] [--speedup 1.5,2,3] [--tokens N] [--draft-tokens K]
  layerskip bench-router --model DIR [--router FILE] [--tokens N] [--prompts N]
  layerskip train      --data FILE --out DIR [--layers 8] [--hidden 128] [--steps N] [--seq-len 128] [--batch 8] [--lr 3e-3]
                       [--tokenizer-from DIR] [--seed S] [--accum N] [--resume] [--save-every N] [--threads N]
  layerskip adapt      --model DIR --data FILE|JSONL --out DIR --speedup R [--policy unified] [--steps N] [--prompt-tokens 16]
                       [--seq-len 128] [--batch 8] [--lr 1e-3] [--resume]
  layerskip train-router --model DIR --data FILE --out FILE [--budget 0.5] [--steps N] [--penalty 4] [--eval-file F]

Policies: unified (default), unifiedeven, earlyexit, skipbottom, random, explicit, calibrated, none.
""";

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(usage);
    return args.Length == 0 ? 2 : 0;
}

try
{
    var options = new CliArgs(args.Skip(1));
    return args[0] switch
    {
        "generate" => await GenerateCommand.RunAsync(options),
        "perplexity" => await PerplexityCommand.RunAsync(options),
        "eval" => await EvalCommand.RunAsync(options),
        "plan" => PlanCommand.Run(options),
        "bench" => await BenchCommand.RunAsync(options),
        "bench-speculative" => await SpeculativeBenchCommand.RunAsync(options),
        "bench-router" => await RouterBenchCommand.RunAsync(options),
        "train" => TrainCommand.Run(options),
        "adapt" => AdaptCommand.Run(options),
        "train-router" => TrainRouterCommand.Run(options),
        _ => throw new CliException($"Unknown command '{args[0]}'.\n\n{usage}"),
    };
}
catch (CliException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (Exception e)
{
    // Users get the message; LAYERSKIP_DEBUG=1 adds the stack trace.
    Console.Error.WriteLine(Environment.GetEnvironmentVariable("LAYERSKIP_DEBUG") == "1" ? $"error: {e}" : $"error: {e.Message}");
    return 1;
}
