using LLama.Native;

namespace LayerSkip.Benchmarks.LlamaCpp;

/// <summary>llama.cpp logs every tensor it loads; only its errors reach stderr here.</summary>
internal static class NativeLog
{
    private static int _configured;

    public static void QuietUnlessError()
    {
        if (Interlocked.Exchange(ref _configured, 1) == 1) return;
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            if (level == LLamaLogLevel.Error) Console.Error.Write("llama.cpp: " + message);
        });
    }
}
