using LayerSkip.Engine.Generation;

namespace LayerSkip.Cli.Commands;

/// <summary>Decode throughput of a batch of requests run through the engine's scheduler.</summary>
internal static class DecodeTiming
{
    public sealed record Measured(double Rate, double Acceptance, double TokensPerPass, List<IReadOnlyList<int>> Outputs);

    public static async Task<Measured> MeasureAsync(InferenceEngine engine, List<int[]> prompts, Func<int[], GenerationRequest> request)
    {
        var results = await Task.WhenAll(prompts.Select(p => engine.GenerateAsync(request(p))));
        // The last sequence admitted starts its decode clock after every prefill: its decode time is the batch's.
        var decodeSeconds = results.Min(r => r.Summary.DecodeTime.TotalSeconds);
        var generated = results.Sum(r => r.Tokens.Count - 1); // the first token comes from the prefill
        var drafted = results.Sum(r => r.Summary.DraftedTokens);
        var passes = results.Sum(r => r.Summary.FullDepthPasses);
        return new Measured(generated / decodeSeconds, drafted == 0 ? 0 : results.Sum(r => r.Summary.AcceptedDraftTokens) / (double)drafted,
            passes == 0 ? 1 : generated / (double)passes, results.Select(r => r.Tokens).ToList());
    }

    /// <summary>
    /// The first <paramref name="count"/> passages of a text file (separated by blank lines), each cut to its first
    /// <paramref name="maxTokens"/> tokens: prompts whose continuation may draw on what they say.
    /// </summary>
    public static List<int[]> PromptsFromFile(InferenceEngine engine, string path, int count, int maxTokens)
    {
        if (!engine.HasTokenizer) throw new CliException($"Prompts from {path} need a model with a tokenizer.");
        if (!File.Exists(path)) throw new CliException($"Prompt file not found: {path}");
        var passages = File.ReadAllText(path).ReplaceLineEndings("\n").Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (passages.Length < count) throw new CliException($"{path} has {passages.Length} passages separated by blank lines; {count} are needed.");
        return passages.Take(count).Select(p => engine.Tokenizer.Encode(p, addBos: engine.Tokenizer.AddBosByDefault).Take(maxTokens).ToArray()).ToList();
    }

    /// <summary>A short story opening (models with a tokenizer) or 16 random tokens.</summary>
    public static int[] Prompt(InferenceEngine engine, Random rng)
    {
        if (engine.HasTokenizer)
        {
            string[] starts = ["Once upon a time", "One day, a little boy", "Lily and her mom went", "The cat was sad because", "Tom had a big red ball"];
            return engine.Tokenizer.Encode(starts[rng.Next(starts.Length)], addBos: true).ToArray();
        }
        return Enumerable.Range(0, 16).Select(_ => rng.Next(3, engine.Config.VocabSize)).ToArray();
    }
}
