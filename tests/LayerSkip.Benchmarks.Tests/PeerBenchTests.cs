using System.Text.Json;
using LayerSkip.Benchmarks.Peer;
using LayerSkip.Engine.Model;

namespace LayerSkip.Benchmarks.Tests;

/// <summary>The peer benchmark end to end on a tiny model: export, llama.cpp quantization, interleaved rounds, JSON lines.</summary>
[Collection(LlamaCppCollection.Name)]
public sealed class PeerBenchTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("peer-bench-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Every_configuration_gets_a_row_per_round_and_a_median_between_min_and_max()
    {
        // stories260K's shape with a feed-forward width of whole 32-element blocks, which Q8_0 needs; random weights
        // and no tokenizer, so the export's placeholder vocabulary is exercised too.
        var model = Path.Combine(_folder, "tiny");
        RandomCheckpoint.Write(ModelShapes.Get("stories260K") with { IntermediateSize = 192 }, model);
        var jsonl = Path.Combine(_folder, "peer.jsonl");
        var options = new PeerBenchOptions
        {
            ModelFolder = model,
            Ours = [OurConfiguration.Parse("f32"), OurConfiguration.Parse("f32@2")],
            LlamaCpp = ["BF16", "Q8_0"],
            Threads = 1, PromptTokens = 8, DecodeTokens = 8, PrefillTokens = 64, Rounds = 2,
            WorkFolder = _folder, JsonLines = jsonl, BandwidthProbeBytes = 64L << 20,
        };
        var rows = new PeerBench(options, TextWriter.Null).Run();

        var written = File.ReadAllLines(jsonl).Select(l => JsonSerializer.Deserialize<PeerRow>(l)!).ToList();
        Assert.Equal(rows, written);
        var rounds = written.Where(r => r.kind == "round").ToList();
        // Per round: the bandwidth probe, ours prefill + 2 decodes, and prefill + decode for each llama.cpp type.
        Assert.Equal(2 * (1 + 3 + 2 * 2), rounds.Count);
        Assert.Equal([1, 2], rounds.Select(r => r.round!.Value).Distinct().Order());
        Assert.Contains(rounds, r => r.engine == "ours" && r.r == 2 && r.kept_layers == 2 && r.metric == "decode");
        Assert.True(File.Exists(Path.Combine(_folder, "tiny-Q8_0.gguf")), "llama.cpp's quantizer wrote the Q8_0 file");
        var summaries = written.Where(r => r.kind == "summary").ToList();
        Assert.Equal(8, summaries.Count);
        var timed = summaries.Where(s => s.metric != "read_bandwidth").ToList();
        Assert.All(timed, s => Assert.InRange(s.tokens_per_s, s.min!.Value - 0.01, s.max!.Value + 0.01));
        Assert.All(rounds.Where(r => r.metric != "read_bandwidth"), r => Assert.True(r.tokens_per_s > 0));
        Assert.All(rounds.Where(r => r.metric == "read_bandwidth"), r => Assert.True(r.gb_per_s > 0));

        // Decode rows carry the bytes a token reads: ours from the kernels' layouts (f32: 4 bytes a weight, all five
        // layers' projections and the head; r = 2 reads two layers), llama.cpp's the file's size.
        var shape = ModelShapes.Get("stories260K") with { IntermediateSize = 192 };
        long h = shape.HiddenSize, kv = (long)shape.NumKeyValueHeads * shape.HeadDim;
        var layerBytes = 4 * (h * (h + 2 * kv) + h * h + 2 * 192 * h + 192 * h);
        var headBytes = 4 * h * shape.VocabSize;
        Assert.All(rounds.Where(r => r.engine == "ours" && r.metric == "decode"),
            r => Assert.Equal(r.kept_layers * layerBytes + headBytes, r.bytes_per_token));
        Assert.All(rounds.Where(r => r.engine == "llama.cpp" && r.metric == "decode"),
            r => Assert.Equal(new FileInfo(Path.Combine(_folder, $"tiny-{r.weights}.gguf")).Length, r.bytes_per_token));
        Assert.All(rounds.Where(r => r.metric == "decode"), r => Assert.Equal(r.bytes_per_token!.Value * r.tokens_per_s / 1e9, r.gb_per_s!.Value, 0.01));
        // Each decode measurement is set against the probes taken beside it, and its summary spans the rounds' shares.
        Assert.All(rounds.Where(r => r.metric == "decode"), r =>
        {
            Assert.True(r.probe_gb_per_s > 0);
            // The share is computed before the figures are rounded for the file (GB/s to 0.01, the share to 0.001).
            Assert.Equal(r.gb_per_s!.Value / r.probe_gb_per_s!.Value, r.share!.Value, 0.002);
        });
        Assert.All(summaries.Where(s => s.metric == "decode"), s =>
        {
            var shares = rounds.Where(r => r.metric == "decode" && r.engine == s.engine && r.weights == s.weights && r.r == s.r).Select(r => r.share!.Value).ToList();
            Assert.Equal(shares.Min(), s.share_min);
            Assert.Equal(shares.Max(), s.share_max);
            Assert.InRange(s.share!.Value, shares.Min(), shares.Max());
        });

        // An interrupted run keeps only its round rows; the table is rebuilt from them with the same summaries.
        var interrupted = Path.Combine(_folder, "interrupted.jsonl");
        File.WriteAllLines(interrupted, File.ReadAllLines(jsonl).Where(l => l.Contains("\"kind\":\"round\"")));
        Assert.Equal(summaries, PeerBench.ReadJsonLines(interrupted).Where(r => r.kind == "summary"));

        var table = PeerBench.Markdown(rows);
        Assert.Contains("| llama.cpp | Q8_0 | 1 | 5 |", table);
        Assert.Contains("| ours | f32 | 2 | 2 |", table);
    }

    [Fact]
    public void Unknown_configurations_are_rejected_by_name()
    {
        Assert.Contains("'fp8'", Assert.Throws<ArgumentException>(() => OurConfiguration.Parse("fp8@2")).Message);
        Assert.Contains("bf16@0.5", Assert.Throws<ArgumentException>(() => OurConfiguration.Parse("bf16@0.5")).Message);
        Assert.Contains("'Q3'", Assert.Throws<ArgumentException>(() => new PeerBench(new PeerBenchOptions { LlamaCpp = ["Q3"] }, TextWriter.Null).Run()).Message);
    }
}
