using System.Runtime.InteropServices;

namespace LayerSkip.Engine.Model.Kernels.Emitted;

/// <summary>
/// Pages for machine code the engine writes at run time: filled while read-write, then switched to read-execute (never
/// writable and executable at once). Linux only. Where the system refuses executable pages, <see cref="TryPlace"/>
/// returns null and the caller keeps its managed kernel. The pages live as long as the process: each kernel is written
/// once and cached.
/// </summary>
internal static unsafe partial class ExecutableMemory
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;
    private const int PageSize = 4096;

    /// <summary>Whether this process can place code at all (tried once, with a lone `ret`).</summary>
    public static bool Available { get; } = TryPlace([0xC3]) is not null;

    /// <summary>The address of a read-execute copy of <paramref name="code"/>, or null where that is not possible.</summary>
    public static nint? TryPlace(ReadOnlySpan<byte> code)
    {
        if (!OperatingSystem.IsLinux() || code.IsEmpty) return null;
        var length = (nuint)((code.Length + PageSize - 1) / PageSize * PageSize);
        var pages = mmap(0, length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (pages == -1) return null;
        code.CopyTo(new Span<byte>((void*)pages, code.Length));
        if (mprotect(pages, length, ProtRead | ProtExec) == 0) return pages;
        munmap(pages, length);
        return null;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(nint address, nuint length);
}
