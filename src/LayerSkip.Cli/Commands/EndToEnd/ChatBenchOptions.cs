namespace LayerSkip.Cli.Commands.EndToEnd;

/// <summary>How a request asks for speed: full depth, a unified layer-skip ratio, or self-speculative decoding.</summary>
internal sealed record DecodeMode(string Name, double Speedup, bool Speculative)
{
    /// <summary><c>r1</c>, <c>r2</c> (any ratio after r), <c>spec</c> (speculative, drafting at r = 2) or <c>spec3</c>.</summary>
    public static DecodeMode Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t.StartsWith("spec", StringComparison.Ordinal))
            return new(t, t.Length > 4 ? Ratio(t[4..], text) : 2, true);
        if (t.StartsWith('r')) return new(t, Ratio(t[1..], text), false);
        throw new CliException($"Unknown mode '{text}' (use r1, r2, spec).");
    }

    private static double Ratio(string s, string text) =>
        double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var r) && r >= 1
            ? r : throw new CliException($"Mode '{text}' needs a ratio ≥ 1.");
}

/// <summary>What <c>layerskip bench-chat</c> measures, apart from how the command line spells it.</summary>
internal sealed record ChatBenchOptions
{
    /// <summary>A model folder; or null with <see cref="Shape"/> and <see cref="TokenizerFrom"/> for random weights.</summary>
    public string? ModelFolder { get; init; }
    public string? Shape { get; init; }
    public string? TokenizerFrom { get; init; }
    public IReadOnlyList<string> Scenarios { get; init; } = ChatScenario.Names;
    public IReadOnlyList<DecodeMode> Modes { get; init; } = [DecodeMode.Parse("r1"), DecodeMode.Parse("r2"), DecodeMode.Parse("spec")];
    public IReadOnlyList<int> Concurrency { get; init; } = [1, 16];
    /// <summary>Requests timed one after another at concurrency 1 (waves of that many at higher concurrency: one).</summary>
    public int Requests { get; init; } = 3;
    public int ContextTokens { get; init; } = 1500;
    public string? ContextFile { get; init; }
    public double Temperature { get; init; } = 0.7;
    public float TopP { get; init; } = 0.9f;
    public int TopK { get; init; } = 40;
    public string? DType { get; init; }
    public int? Threads { get; init; }
    public string? JsonLines { get; init; }
}
