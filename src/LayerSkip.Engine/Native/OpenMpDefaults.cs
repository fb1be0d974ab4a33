using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LayerSkip.Engine.Native;

/// <summary>
/// libtorch's OpenMP threads spin while they wait for work. On a machine where other processes (a second test
/// assembly, a web server, another model) hold the cores, spinning threads steal time from the thread that has the
/// work, and every operation slows many-fold (we measured 8× on a 2-core machine with one busy core). Passive
/// waiting degrades gracefully instead. We set it before libtorch loads, unless the user chose a policy.
/// OMP_WAIT_POLICY=ACTIVE restores spinning on a dedicated machine.
/// </summary>
internal static class OpenMpDefaults
{
    // A module initializer is the only hook that runs before an application's first TorchSharp call loads libgomp.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is { Length: > 0 }) return;
        try
        {
            // .NET keeps its own copy of the environment on Unix: libgomp reads the process's, so set it natively.
            setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv(string name, string value, int overwrite);
}
