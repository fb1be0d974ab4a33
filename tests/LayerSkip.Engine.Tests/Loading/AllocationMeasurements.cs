namespace LayerSkip.Engine.Tests.Loading;

/// <summary>
/// Tests that bound what a load allocates read <c>GC.GetTotalAllocatedBytes</c>, which counts every thread of the
/// process, so they run alone: a test running beside them would add its own allocations to theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasurements
{
    public const string Name = "Process-wide allocation measurements";
}
