using LLama;
using LLama.Native;

namespace LayerSkip.Benchmarks.LlamaCpp;

/// <summary>llama.cpp's own quantizer (what <c>llama-quantize</c> runs), with its default choice of output tensor type.</summary>
public static class LlamaCppQuantizer
{
    public static LLamaFtype Parse(string name) => name.ToUpperInvariant() switch
    {
        "Q8_0" => LLamaFtype.MOSTLY_Q8_0,
        "Q4_0" => LLamaFtype.MOSTLY_Q4_0,
        "Q4_1" => LLamaFtype.MOSTLY_Q4_1,
        "Q5_0" => LLamaFtype.MOSTLY_Q5_0,
        "Q4_K_M" => LLamaFtype.MOSTLY_Q4_K_M,
        "F16" => LLamaFtype.MOSTLY_F16,
        "BF16" => LLamaFtype.MOSTLY_BF16,
        _ => throw new ArgumentException($"Unknown llama.cpp type '{name}' (use BF16, F16, Q8_0, Q5_0, Q4_1, Q4_0 or Q4_K_M).", nameof(name)),
    };

    public static void Quantize(string source, string destination, string type, int threads)
    {
        NativeLog.QuietUnlessError();
        // quantizeOutputTensor: true is llama-quantize's default (the output matrix gets the type llama.cpp picks for it).
        if (!LLamaQuantizer.Quantize(source, destination, Parse(type), threads, allowRequantize: false, quantizeOutputTensor: true))
            throw new InvalidOperationException($"llama.cpp could not quantize {source} to {type}: {NativeLog.LastError ?? "no error logged"}");
    }
}
