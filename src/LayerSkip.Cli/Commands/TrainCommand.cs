using System.CommandLine;
using LayerSkip.Cli.Options;
using LayerSkip.Cli.Progress;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Engine.Training;

namespace LayerSkip.Cli.Commands;

/// <summary>layerskip train: pretrain a small LLaMA from scratch on a text file (the test bed for the paper's experiment).</summary>
internal sealed class TrainCommand : CliCommand
{
    private readonly Option<string> _out = Opt.Required("--out", "Folder to save the model (and resumable training state) to.", "dir");
    private readonly Option<string?> _tokenizerFrom = Opt.Text("--tokenizer-from", "Model folder whose tokenizer to use (default: the shared stories260K).", "dir");
    private readonly Option<int> _layers = Opt.Value("--layers", "Decoder layers.", 8);
    private readonly Option<int> _hidden = Opt.Value("--hidden", "Hidden size.", 128);
    private readonly Option<int?> _heads = Opt.Maybe<int>("--heads", "Attention heads (default: hidden / 32).");
    private readonly Option<int?> _kvHeads = Opt.Maybe<int>("--kv-heads", "Key/value heads (default: --heads).");
    private readonly Option<int> _seqLen = Opt.Value("--seq-len", "Tokens predicted per training window.", 128);
    private readonly Option<int?> _maxPositions = Opt.Maybe<int>("--max-positions", "max_position_embeddings of the saved config (default: max(256, --seq-len)).");
    private readonly Option<bool> _resume = Opt.Flag("--resume", "Continue the run saved in --out.");
    private readonly Option<string> _dtype = TrainingOptionSet.TrainingDType();
    private readonly TrainingOptionSet _training;

    public TrainCommand() : base("train", "Pretrain a small LLaMA from scratch on a text file.")
    {
        _training = new TrainingOptionSet(this, defaultSteps: 1000, defaultLr: 3e-3);
        this.AddAll(_out, _tokenizerFrom, _layers, _hidden, _heads, _kvHeads, _seqLen, _maxPositions, _resume, _dtype);
    }

    protected override Task<int> RunAsync(ParseResult parse, IProgressReporter progress, CancellationToken cancellation)
    {
        var data = _training.DataFile(parse);
        var outFolder = parse.GetValue(_out)!;
        var tokenizerFrom = parse.GetValue(_tokenizerFrom) ?? TrainingOptionSet.DefaultTokenizerFolder();
        var seqLen = parse.GetValue(_seqLen);
        var resume = parse.GetValue(_resume);
        var options = _training.Read(parse);
        var dtype = TrainingOptionSet.ParseDType(parse.GetValue(_dtype)!);
        var log = progress.Log;

        var tokenizer = TextTokenizer.Load(tokenizerFrom);
        var stream = TrainingOptionSet.Tokenize(tokenizer, data);
        log.WriteLine($"{stream.TokenCount} tokens of {Path.GetFileName(data)}, tokenizer from {tokenizerFrom} (vocab {tokenizer.VocabSize})");

        using var model = resume
            ? TrainableModel.Load(outFolder, dtype)
            : TrainableModel.Create(Pretraining.SmallLlama(parse.GetValue(_layers), parse.GetValue(_hidden), tokenizer.VocabSize, parse.GetValue(_heads),
                parse.GetValue(_kvHeads), parse.GetValue(_maxPositions) ?? Math.Max(256, seqLen), tokenizer.BosTokenId, tokenizer.EosTokenId), options.Seed, dtype);
        var c = model.Config;
        log.WriteLine($"model: {c.NumLayers} layers, hidden {c.HiddenSize}, {c.NumHeads}/{c.NumKeyValueHeads} heads, ffn {c.IntermediateSize}, " +
                      $"{model.AllParameters.Sum(p => p.NumberOfElements):N0} parameters");
        TrainingResult result;
        using (var task = progress.Start("train", options.Steps, "steps"))
            result = Pretraining.Run(model, stream, seqLen + 1, options, outFolder, tokenizerFrom, resume, log, task);
        Console.WriteLine($"saved {outFolder} at step {result.Step} ({result.TokensSeen:N0} tokens), last loss {result.LossHistory.LastOrDefault():0.0000}");
        return Task.FromResult(0);
    }
}
