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
        using var moved = HugePages.Rehome(original);
        Assert.True(original.IsInvalid, "the original tensor is released");
        Assert.True(moved.equal(expected).all().item<bool>());
        // Whether Linux then backs the range with huge pages depends on free contiguous memory at that moment; what this
        // code controls is the advice on the 2 MiB-aligned range inside the tensor ("hg" in the mapping's VmFlags).
        Assert.Contains("hg", VmFlags(AlignUp((long)TensorMemory.Pointer(moved))));

        // A fused matrix is written straight into advised memory, rows in order.
        var parts = new[] { randn([3000, 4096], ScalarType.BFloat16), randn([1096, 4096], ScalarType.BFloat16) };
        using var fused = HugePages.Concat(parts);
        Assert.True(fused.equal(cat(parts, 0)).all().item<bool>());
        Assert.Contains("hg", VmFlags(AlignUp((long)TensorMemory.Pointer(fused))));

        // A kernel's own block: 2 MiB-aligned, advised over all its whole huge pages, writable to its last byte, freed by size.
        var bytes = (16L << 20) + 4096 + 100;
        var native = (byte*)HugePages.Allocate(bytes);
        try
        {
            Assert.Equal(0, (long)native % (2L << 20));
            Assert.Contains("hg", VmFlags((long)native));
            Assert.Contains("hg", VmFlags((long)native + (16L << 20) - 1));
            new Span<byte>(native + bytes - 100, 100).Fill(7);
            Assert.Equal(7, native[bytes - 1]);
        }
        finally { HugePages.Free(native, bytes); }
        var small = (byte*)HugePages.Allocate(1000); // below one huge page: the C heap
        small[999] = 1;
        HugePages.Free(small, 1000);
    }

    private static long AlignUp(long address) => (address + (2L << 20) - 1) & ~((2L << 20) - 1);

    /// <summary>The VmFlags of the mapping that contains <paramref name="address"/> (/proc/self/smaps).</summary>
    private static string[] VmFlags(long address)
    {
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var space = line.IndexOf(' ');
            var dash = line.IndexOf('-');
            if (dash > 0 && space > dash && line[..space].All(c => c == '-' || Uri.IsHexDigit(c))) // "start-end perms ..."
            {
                var start = Convert.ToInt64(line[..dash], 16);
                var end = Convert.ToInt64(line[(dash + 1)..space], 16);
                inside = address >= start && address < end;
            }
            else if (inside && line.StartsWith("VmFlags:"))
                return line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
        return [];
    }
}
