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
                       [--tokens N] [--prompt-tokens N] [--json FILE] [--device cpu|cuda]

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
