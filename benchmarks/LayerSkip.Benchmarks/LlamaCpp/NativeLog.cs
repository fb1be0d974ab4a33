using LLama.Native;

namespace LayerSkip.Benchmarks.LlamaCpp;

/// <summary>
/// llama.cpp logs every tensor it loads; only its errors reach stderr here. Also loads the native library, which
/// LLamaSharp otherwise does only on first use of its main API class (the quantizer's entry points don't trigger it).
/// </summary>
internal static class NativeLog
{
    private static int _configured;
    private static volatile string? _lastError;

    /// <summary>The last error line llama.cpp logged, to name the cause when one of its calls fails.</summary>
    public static string? LastError => _lastError;

    public static void QuietUnlessError()
    {
        if (Interlocked.Exchange(ref _configured, 1) == 1) return;
        try
        {
            NativeLibraryConfig.All.WithLogCallback((level, message) =>
            {
                if (level != LLamaLogLevel.Error) return;
                _lastError = message.Trim();
                Console.Error.Write("llama.cpp: " + message);
            });
        }
        catch (InvalidOperationException)
        {
            // Something in this process loaded llama.cpp before us: its logging stays as it was set up.
        }
        NativeApi.llama_empty_call();
    }
}
