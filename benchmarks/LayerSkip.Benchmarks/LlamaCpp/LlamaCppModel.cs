using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;

namespace LayerSkip.Benchmarks.LlamaCpp;

/// <summary>
/// A GGUF model run by llama.cpp (through LLamaSharp) on token ids: greedy decoding, and timed prefill and decode.
/// Batch 1, one sequence, CPU only.
/// </summary>
public sealed class LlamaCppModel : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LLamaBatch _batch = new();
    private int _position;

    static LlamaCppModel() => NativeLog.QuietUnlessError();

    private LlamaCppModel(LLamaWeights weights, LLamaContext context)
    {
        _weights = weights;
        _context = context;
    }

    public int VocabSize => _weights.Vocab.Count;

    /// <param name="contextSize">The longest sequence; one decode call takes up to this many tokens.</param>
    public static LlamaCppModel Load(string ggufPath, int threads, int contextSize)
    {
        if (!File.Exists(ggufPath)) throw new FileNotFoundException("GGUF file not found", ggufPath);
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = (uint)contextSize,
            BatchSize = (uint)contextSize,
            UBatchSize = (uint)contextSize,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        var weights = LLamaWeights.LoadFromFile(parameters);
        try
        {
            return new LlamaCppModel(weights, weights.CreateContext(parameters));
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>llama.cpp's own tokenization of <paramref name="text"/> with the vocabulary in the GGUF file.</summary>
    public int[] Tokenize(string text, bool addBos) =>
        _context.NativeHandle.Tokenize(text, addBos, special: false, System.Text.Encoding.UTF8).Select(t => (int)t).ToArray();

    /// <summary>Forgets the sequence (the KV cache) so the next call starts at position 0.</summary>
    public void Reset()
    {
        _context.NativeHandle.MemoryClear(true);
        _position = 0;
    }

    /// <summary>Runs <paramref name="tokens"/> as the next positions and returns the id with the highest last logit.</summary>
    public int Next(ReadOnlySpan<int> tokens)
    {
        _batch.Clear();
        for (var i = 0; i < tokens.Length; i++)
            _batch.Add((LLamaToken)tokens[i], _position + i, LLamaSeqId.Zero, i == tokens.Length - 1);
        var result = _context.NativeHandle.Decode(_batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {result}");
        _position += tokens.Length;
        return ArgMax(_context.NativeHandle.GetLogitsIth(tokens.Length - 1));
    }

    /// <summary>
    /// Teacher-forced negative log-likelihood of every next token of <paramref name="window"/> (position i predicts
    /// token i + 1), from one decode call that keeps the logits of every position; log-softmax in double.
    /// </summary>
    public double[] NegativeLogLikelihoods(IReadOnlyList<int> window)
    {
        if (window.Count < 2) throw new ArgumentException("A window needs at least two tokens.", nameof(window));
        Reset();
        _batch.Clear();
        for (var i = 0; i < window.Count; i++) _batch.Add((LLamaToken)window[i], i, LLamaSeqId.Zero, true);
        var result = _context.NativeHandle.Decode(_batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {result}");
        _position = window.Count;
        var nll = new double[window.Count - 1];
        for (var i = 0; i < nll.Length; i++)
            nll[i] = NegativeLogSoftmax(_context.NativeHandle.GetLogitsIth(i), window[i + 1]);
        return nll;
    }

    /// <summary>−log softmax(logits)[target], computed in double with the maximum subtracted.</summary>
    public static double NegativeLogSoftmax(ReadOnlySpan<float> logits, int target)
    {
        double max = double.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l);
        double sum = 0;
        foreach (var l in logits) sum += Math.Exp(l - max);
        return max + Math.Log(sum) - logits[target];
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/> from an empty cache.</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int count)
    {
        Reset();
        var output = new List<int>(count);
        var next = Next(prompt.ToArray());
        for (var i = 0; i < count; i++)
        {
            output.Add(next);
            if (i + 1 < count) next = Next([next]);
        }
        return output;
    }

    /// <summary>Tokens per second of <paramref name="prompt"/> run in one call from an empty cache.</summary>
    public double TimePrefill(int[] prompt)
    {
        Reset();
        var clock = Stopwatch.StartNew();
        Next(prompt);
        return prompt.Length / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Greedy tokens per second over <paramref name="steps"/> steps after the prompt and one untimed step.</summary>
    public double TimeDecode(int[] prompt, int steps)
    {
        Reset();
        var token = Next(prompt);
        token = Next([token]); // warm-up
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++) token = Next([token]);
        return steps / clock.Elapsed.TotalSeconds;
    }

    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
