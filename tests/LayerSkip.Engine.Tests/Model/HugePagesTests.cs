using LayerSkip.Engine.Model.Kernels;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Model;

/// <summary>Large weights are moved onto 2 MiB pages where Linux grants them on request, with their values intact.</summary>
public class HugePagesTests
{
    [Fact]
    public unsafe void ALargeTensorMovesOntoHugePagesWithItsValues()
    {
        var mode = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!HugePages.Enabled || !OperatingSystem.IsLinux() || !File.Exists(mode) || File.ReadAllText(mode).Contains("[never]"))
            return; // nothing to grant

        using var scope = NewDisposeScope();
        var original = randn([4096, 4096], ScalarType.BFloat16); // 32 MiB
        var expected = original.clone();
        var before = AnonymousHugeBytes();
        using var moved = HugePages.Rehome(original);
        var after = AnonymousHugeBytes();
        Assert.True(original.IsInvalid, "the original tensor is released");
        Assert.True(moved.equal(expected).all().item<bool>());
        // All 2 MiB-aligned pages inside the tensor: at least 30 of its 32 MiB (the ends may fall outside whole pages).
        Assert.True(after - before >= 30L << 20, $"huge pages grew by {(after - before) >> 20} MiB");

        var native = (byte*)HugePages.Allocate(16L << 20);
        try
        {
            var beforeNative = AnonymousHugeBytes();
            new Span<byte>(native, 16 << 20).Fill(1);
            Assert.True(AnonymousHugeBytes() - beforeNative >= 16L << 20, "the aligned native block is on huge pages");
        }
        finally { System.Runtime.InteropServices.NativeMemory.AlignedFree(native); }
    }

    private static long AnonymousHugeBytes() =>
        File.ReadLines("/proc/self/smaps_rollup").Where(l => l.StartsWith("AnonHugePages:"))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024).Sum();
}
