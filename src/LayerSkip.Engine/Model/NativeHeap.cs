using System.Runtime.InteropServices;

namespace LayerSkip.Engine.Model;

/// <summary>
/// Hands freed heap memory back to the operating system. glibc keeps freed blocks below its mmap threshold in the
/// heap, so a model that frees its float weights after quantizing would otherwise keep much of them resident.
/// </summary>
internal static partial class NativeHeap
{
    public static void Trim()
    {
        if (!OperatingSystem.IsLinux()) return;
        try { malloc_trim(0); }
        catch (DllNotFoundException) { }      // not glibc (musl): nothing to trim
        catch (EntryPointNotFoundException) { }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int malloc_trim(nuint pad);
}
