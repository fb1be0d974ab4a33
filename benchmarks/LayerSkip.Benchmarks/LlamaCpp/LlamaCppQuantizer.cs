using LLama;
using LLama.Native;

namespace LayerSkip.Benchmarks.LlamaCpp;

/// <summary>
/// llama.cpp's own quantizer (what <c>llama-quantize</c> runs), with its default choice of type per tensor; a
/// <c>-pure</c> suffix (<c>Q4_0-pure</c>, like <c>llama-quantize --pure</c>) gives every matrix the one type instead.
/// </summary>
public static class LlamaCppQuantizer
{
    private const string PureSuffix = "-PURE";

    public static LLamaFtype Parse(string name) => Split(name).Type;

    public static void Quantize(string source, string destination, string type, int threads)
    {
        NativeLog.QuietUnlessError();
        var (ftype, pure) = Split(type);
        bool ok;
        if (pure)
        {
            var parameters = LLamaModelQuantizeParams.Default();
            parameters.ftype = ftype;
            parameters.nthread = threads;
            parameters.pure = true;
            ok = NativeApi.llama_model_quantize(source, destination, ref parameters) == 0;
        }
        else
        {
            // quantizeOutputTensor: true is llama-quantize's default (the output matrix gets the type llama.cpp picks for it).
            ok = LLamaQuantizer.Quantize(source, destination, ftype, threads, allowRequantize: false, quantizeOutputTensor: true);
        }
        if (!ok) throw new InvalidOperationException($"llama.cpp could not quantize {source} to {type}: {NativeLog.LastError ?? "no error logged"}");
    }

    private static (LLamaFtype Type, bool Pure) Split(string name)
    {
        var upper = name.ToUpperInvariant();
        var pure = upper.EndsWith(PureSuffix, StringComparison.Ordinal);
        var type = (pure ? upper[..^PureSuffix.Length] : upper) switch
        {
            "Q8_0" => LLamaFtype.MOSTLY_Q8_0,
            "Q4_0" => LLamaFtype.MOSTLY_Q4_0,
            "Q4_1" => LLamaFtype.MOSTLY_Q4_1,
            "Q5_0" => LLamaFtype.MOSTLY_Q5_0,
            "Q4_K_M" => LLamaFtype.MOSTLY_Q4_K_M,
            "F16" => LLamaFtype.MOSTLY_F16,
            "BF16" => LLamaFtype.MOSTLY_BF16,
            _ => throw new ArgumentException($"Unknown llama.cpp type '{name}' (use BF16, F16, Q8_0, Q5_0, Q4_1, Q4_0 or Q4_K_M, optionally with -pure).", nameof(name)),
        };
        return (type, pure);
    }
}
