using System.Globalization;

namespace LayerSkip.Cli.Commands;

/// <summary>This process's resident memory, now and at its peak (Linux /proc; elsewhere the working set for both).</summary>
internal static class ProcessMemory
{
    public static long Resident() => Status("VmRSS:") ?? Environment.WorkingSet;

    /// <summary>The high-water mark of resident memory since the process started.</summary>
    public static long Peak() => Status("VmHWM:") ?? Environment.WorkingSet;

    private static long? Status(string field)
    {
        try
        {
            if (!OperatingSystem.IsLinux()) return null;
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            var kb = line?[field.Length..].Trim().Split(' ')[0];
            return kb is null ? null : long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { return null; }
    }
}
