using System.Globalization;

namespace LayerSkip.Benchmarks.Peer;

/// <summary>One configuration of our engine: how the weights are held and the unified layer-skip ratio r.</summary>
public sealed record OurConfiguration(string Weights, double Speedup)
{
    /// <summary>Parses <c>bf16@2</c> (weights, then r; <c>bf16</c> alone is r = 1).</summary>
    public static OurConfiguration Parse(string text)
    {
        var parts = text.Split('@', 2, StringSplitOptions.TrimEntries);
        var r = 1.0;
        if (parts.Length == 2 && (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out r) || r < 1))
            throw new ArgumentException($"Our configuration '{text}' needs a ratio r ≥ 1 after '@' (for example bf16@2).");
        Ours.OurWeights.Parse(parts[0]); // names the bad weights early
        return new OurConfiguration(parts[0].ToLowerInvariant(), r);
    }

    public override string ToString() => Speedup == 1 ? Weights : string.Create(CultureInfo.InvariantCulture, $"{Weights}@{Speedup:0.##}");
}

/// <summary>What <c>layerskip-bench peer</c> measures; parsed apart from the work so any command-line front end can fill it.</summary>
public sealed record PeerBenchOptions
{
    /// <summary>A Hugging Face model folder; null means random weights of <see cref="Shape"/>.</summary>
    public string? ModelFolder { get; init; }
    public string Shape { get; init; } = "llama-1b";
    public IReadOnlyList<OurConfiguration> Ours { get; init; } = [new("bf16", 1), new("bf16", 2), new("bf16", 4)];
    /// <summary>llama.cpp weight types: BF16 is our exporter's output, the others llama.cpp's quantizer makes from it.</summary>
    public IReadOnlyList<string> LlamaCpp { get; init; } = ["BF16", "Q8_0", "Q4_0"];
    public int Threads { get; init; } = 2;
    public int PromptTokens { get; init; } = 16;
    public int DecodeTokens { get; init; } = 64;
    public int PrefillTokens { get; init; } = 512;
    public int Rounds { get; init; } = 3;
    /// <summary>Where the converted model files go (kept between runs and reused).</summary>
    public string WorkFolder { get; init; } = Path.Combine(Path.GetTempPath(), "layerskip-peer");
    /// <summary>JSON lines, one per measurement as soon as it is taken, then one summary per configuration.</summary>
    public string? JsonLines { get; init; }
    public int Seed { get; init; } = 42;
    /// <summary>The buffer the read-bandwidth probe sums once per round (far larger than the caches).</summary>
    public long BandwidthProbeBytes { get; init; } = 1L << 30;

    public void Validate()
    {
        if (Threads < 1) throw new ArgumentException("--threads must be at least 1.");
        if (PromptTokens < 1 || DecodeTokens < 1 || PrefillTokens < 1) throw new ArgumentException("--prompt-tokens, --tokens and --prefill-tokens must be at least 1.");
        if (Rounds < 1) throw new ArgumentException("--rounds must be at least 1.");
        if (Ours.Count == 0 && LlamaCpp.Count == 0) throw new ArgumentException("Nothing to measure: --ours and --llamacpp are both empty.");
        foreach (var t in LlamaCpp) Benchmarks.LlamaCpp.LlamaCppQuantizer.Parse(t);
        if (ModelFolder is not null && !Directory.Exists(ModelFolder)) throw new ArgumentException($"--model: folder '{ModelFolder}' not found.");
    }
}
