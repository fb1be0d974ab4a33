using LayerSkip.Benchmarks.LlamaCpp;
using LayerSkip.Benchmarks.Ours;
using LayerSkip.Engine.Export.Gguf;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Tests;

namespace LayerSkip.Benchmarks.Tests;

/// <summary>
/// llama.cpp as an independent reference forward pass: stories260K written by our GGUF exporter and run by
/// llama.cpp must continue prompts with exactly the greedy tokens our engine picks.
/// </summary>
[Collection(LlamaCppCollection.Name)]
public sealed class LlamaCppReferenceTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llamacpp-ref-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("Once upon a time")]
    [InlineData("One day, a little boy")]
    [InlineData("The cat was sad because")]
    public void Stories260K_greedy_tokens_match_llama_cpp(string prompt)
    {
        var gguf = Path.Combine(_folder, "stories260K-F32.gguf");
        GgufModelExporter.Export(SharedData.Stories260K, gguf, GgmlType.F32);
        var ids = TextTokenizer.Load(SharedData.Stories260K).Encode(prompt, addBos: true).ToArray();

        using var reference = LlamaCppModel.Load(gguf, threads: 1, contextSize: 256);
        var expected = reference.Greedy(ids, 50);
        using var ours = LayerSkipModel.Load(SharedData.Stories260K, OurWeights.Parse("f32"), 256);
        var actual = ours.Greedy(ids, 50);

        Assert.Equal(expected, actual);
        Assert.True(expected.Distinct().Count() > 10, "a real continuation, not a repeated token");
    }

    [Fact]
    public void Llama_cpp_tokenizes_like_our_tokenizer_from_the_exported_vocabulary()
    {
        var gguf = Path.Combine(_folder, "stories260K-F32.gguf");
        GgufModelExporter.Export(SharedData.Stories260K, gguf, GgmlType.F32);
        var ours = TextTokenizer.Load(SharedData.Stories260K);
        using var reference = LlamaCppModel.Load(gguf, threads: 1, contextSize: 64);
        foreach (var text in new[] { "Once upon a time, there was a little girl named Lily.", "She liked to play outside with her dog." })
            Assert.Equal(ours.Encode(text, addBos: true), reference.Tokenize(text, addBos: true));
    }
}
