namespace LayerSkip.Benchmarks.Tests;

/// <summary>
/// The test classes that load llama.cpp run one after another, not beside each other or other tests: llama.cpp keeps
/// process-wide state (backends, the log callback) and runs its own threads, and one run of these classes, in
/// parallel, saw a peer-bench assertion fail once that no rerun repeated.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LlamaCppCollection
{
    public const string Name = "llama.cpp";
}
