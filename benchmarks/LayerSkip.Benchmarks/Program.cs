using System.CommandLine;
using LayerSkip.Benchmarks.Peer;
using LayerSkip.Benchmarks.Quality;
using LayerSkip.Engine.Export.Gguf;
using LayerSkip.Engine.Model;

// layerskip-bench: benchmarks of our engine against other engines on the same weights.
var root = new RootCommand("LayerSkip benchmarks against other engines");
root.Subcommands.Add(PeerCommandLine.Create());
root.Subcommands.Add(GgufCommandLine.Create());
root.Subcommands.Add(TableCommandLine.Create());
root.Subcommands.Add(QualityCommandLine.Create());
return await root.Parse(args).InvokeAsync();

/// <summary>The <c>peer</c> command's options, read into <see cref="PeerBenchOptions"/>.</summary>
internal static class PeerCommandLine
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder (default: random weights of --shape)" };
        var shape = new Option<string>("--shape") { Description = $"shape of random weights: {string.Join(", ", ModelShapes.Names)}", DefaultValueFactory = _ => "llama-1b" };
        var ours = new Option<string>("--ours") { Description = "our configurations, weights@r (bf16, int8, int4)", DefaultValueFactory = _ => "bf16@1,bf16@2,bf16@4" };
        var llama = new Option<string>("--llamacpp") { Description = "llama.cpp types (BF16, F16, Q8_0, Q4_0; empty for none)", DefaultValueFactory = _ => "BF16,Q8_0,Q4_0" };
        var threads = new Option<int>("--threads") { Description = "threads for both engines", DefaultValueFactory = _ => 2 };
        var prompt = new Option<int>("--prompt-tokens") { Description = "prompt length before decoding", DefaultValueFactory = _ => 16 };
        var tokens = new Option<int>("--tokens") { Description = "timed decode steps", DefaultValueFactory = _ => 64 };
        var prefill = new Option<int>("--prefill-tokens") { Description = "prompt length of the timed prefill", DefaultValueFactory = _ => 512 };
        var rounds = new Option<int>("--rounds") { Description = "interleaved rounds", DefaultValueFactory = _ => 3 };
        var work = new Option<string?>("--work") { Description = "folder for converted models (reused)" };
        var json = new Option<string?>("--json") { Description = "JSON lines output, one row per measurement" };
        var command = new Command("peer", "our engine against llama.cpp (LLamaSharp) on the same weights: decode and prefill tokens/s")
        {
            model, shape, ours, llama, threads, prompt, tokens, prefill, rounds, work, json,
        };
        command.SetAction(parse =>
        {
            static IReadOnlyList<string> Split(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            try
            {
                var defaults = new PeerBenchOptions();
                var options = new PeerBenchOptions
                {
                    ModelFolder = parse.GetValue(model),
                    Shape = parse.GetValue(shape)!,
                    Ours = Split(parse.GetValue(ours)!).Select(OurConfiguration.Parse).ToList(),
                    LlamaCpp = Split(parse.GetValue(llama)!),
                    Threads = parse.GetValue(threads),
                    PromptTokens = parse.GetValue(prompt),
                    DecodeTokens = parse.GetValue(tokens),
                    PrefillTokens = parse.GetValue(prefill),
                    Rounds = parse.GetValue(rounds),
                    WorkFolder = parse.GetValue(work) ?? defaults.WorkFolder,
                    JsonLines = parse.GetValue(json),
                };
                var rows = new PeerBench(options, Console.Error).Run();
                Console.WriteLine(PeerBench.Markdown(rows));
                return 0;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}

/// <summary>The <c>gguf</c> command: a Hugging Face folder written as a GGUF file.</summary>
internal static class GgufCommandLine
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder", Required = true };
        var output = new Option<string>("--out") { Description = "GGUF file to write", Required = true };
        var type = new Option<string>("--type") { Description = "matrix type: f32, f16 or bf16", DefaultValueFactory = _ => "bf16" };
        var command = new Command("gguf", "write a Hugging Face LLaMA folder as a GGUF file for llama.cpp") { model, output, type };
        command.SetAction(parse =>
        {
            try
            {
                GgufModelExporter.Export(parse.GetValue(model)!, parse.GetValue(output)!, GgufModelExporter.ParseFloatType(parse.GetValue(type)!));
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or LayerSkip.Engine.Loading.ModelLoadException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}

/// <summary>The <c>table</c> command: the side-by-side table of a <c>peer</c> run's JSON lines (also of an interrupted run).</summary>
internal static class TableCommandLine
{
    public static Command Create()
    {
        var json = new Option<string>("--json") { Description = "JSON lines written by peer --json", Required = true };
        var command = new Command("table", "print the markdown table of a peer run's JSON lines") { json };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(json)!;
            if (!File.Exists(path))
            {
                Console.Error.WriteLine($"error: --json: '{path}' not found.");
                return 2;
            }
            Console.WriteLine(PeerBench.Markdown(PeerBench.ReadJsonLines(path)));
            return 0;
        });
        return command;
    }
}

/// <summary>The <c>quality</c> command's options, read into <see cref="QualityBenchOptions"/>.</summary>
internal static class QualityCommandLine
{
    public static Command Create()
    {
        var defaults = new QualityBenchOptions { ModelFolder = "", TextFile = "" };
        var model = new Option<string>("--model") { Description = "Hugging Face model folder", Required = true };
        var file = new Option<string>("--file") { Description = "text to score (tokenized once by our tokenizer)", Required = true };
        var window = new Option<int>("--window") { Description = "window length in tokens, BOS included", DefaultValueFactory = _ => defaults.Window };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "score only the first N tokens of the text" };
        var calibrationLines = new Option<int?>("--calibration-lines") { Description = "the first N lines of --file calibrate the -cal configurations (int4-cal) and are scored by none" };
        var llama = new Option<string>("--llamacpp") { Description = "llama.cpp types (F32, BF16, F16, Q8_0, Q5_0, Q4_1, Q4_0, Q4_K_M; empty for none)", DefaultValueFactory = _ => string.Join(',', defaults.LlamaCpp) };
        var ours = new Option<string>("--ours") { Description = "our weight-only quantizations (none, int8, int4; int4 takes -g64 for another group size, -h8 for an int8 LM head, -cal for the calibrated fit; empty for none)", DefaultValueFactory = _ => string.Join(',', defaults.Ours) };
        var speedups = new Option<string>("--speedups") { Description = "unified layer-skip ratios r for our configurations", DefaultValueFactory = _ => "1" };
        var context = new Option<int>("--context-tokens") { Description = "under a plan, positions per window that run every layer", DefaultValueFactory = _ => defaults.ContextTokens };
        var threads = new Option<int>("--threads") { Description = "threads for both engines", DefaultValueFactory = _ => defaults.Threads };
        var work = new Option<string?>("--work") { Description = "folder for the GGUF files of the run (deleted afterwards)" };
        var json = new Option<string?>("--json") { Description = "JSON lines output, one row per configuration" };
        var command = new Command("quality", "nats/token of our int8/int4 and llama.cpp's Q8_0/Q4_0 on the same weights and token windows, Δ against each engine's unquantized weights")
        {
            model, file, window, maxTokens, calibrationLines, llama, ours, speedups, context, threads, work, json,
        };
        command.SetAction(parse =>
        {
            static IReadOnlyList<string> Split(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            try
            {
                var options = new QualityBenchOptions
                {
                    ModelFolder = parse.GetValue(model)!,
                    TextFile = parse.GetValue(file)!,
                    Window = parse.GetValue(window),
                    MaxTokens = parse.GetValue(maxTokens),
                    CalibrationLines = parse.GetValue(calibrationLines),
                    LlamaCpp = Split(parse.GetValue(llama)!),
                    Ours = Split(parse.GetValue(ours)!),
                    OurSpeedups = Split(parse.GetValue(speedups)!).Select(r => double.TryParse(r, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v)
                        ? v : throw new ArgumentException($"--speedups: '{r}' is not a number.")).ToList(),
                    ContextTokens = parse.GetValue(context),
                    Threads = parse.GetValue(threads),
                    WorkFolder = parse.GetValue(work) ?? defaults.WorkFolder,
                    JsonLines = parse.GetValue(json),
                };
                TorchSharp.torch.set_num_threads(options.Threads); // our engine on the same threads as llama.cpp
                Console.WriteLine(QualityBench.Markdown(new QualityBench(options, Console.Error).Run()));
                return 0;
            }
            // Bad options, an unreadable folder, or llama.cpp refusing a file (its quantizer or decode failing).
            catch (Exception e) when (e is ArgumentException or LayerSkip.Engine.Loading.ModelLoadException or InvalidOperationException or FileNotFoundException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
