namespace LayerSkip.Engine.Tests.Model;

/// <summary>
/// Tests that switch the kernels' instruction sets (<c>KernelIsa.ScalarOnly</c>) change them
/// for the whole process, so they run alone: a test elsewhere comparing two runs bit for bit must not see the kernels
/// change under it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelIsaSwitches
{
    public const string Name = "Kernel instruction-set switches";
}
