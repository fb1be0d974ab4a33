using System.Text.Json.Nodes;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tests.Reference;
using LayerSkip.Tests;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Loading;

/// <summary>Model folders as users have them: folders of links, Hugging Face cache repos, GGUF files, hostile shard indexes.</summary>
public sealed class ModelFolderTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "layerskip-folders", Guid.NewGuid().ToString("N"));

    public ModelFolderTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }

    private static readonly int[] Prompt = [1, 403, 261, 376, 353];

    private static async Task<List<int>> Greedy(string modelPath)
    {
        using var engine = InferenceEngine.Load(new EngineOptions { ModelPath = modelPath, Device = "cpu" });
        var result = await engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = Prompt, MaxNewTokens = 12, Sampling = new SamplingOptions { Temperature = 0 }, StopTokenIds = [],
        });
        return result.Tokens.ToList();
    }

    [Fact]
    public async Task AFolderOfSymlinksLoadsAndGeneratesLikeTheOriginal()
    {
        var links = Path.Combine(_root, "links");
        Directory.CreateDirectory(links);
        foreach (var file in Directory.GetFiles(SharedData.Stories260K))
            File.CreateSymbolicLink(Path.Combine(links, Path.GetFileName(file)), Path.GetRelativePath(links, file));
        // The link's own length is a few dozen bytes; the loader must read the target.
        Assert.True(new FileInfo(Path.Combine(links, "model.safetensors")).Length < 1000);

        Assert.Equal(await Greedy(SharedData.Stories260K), await Greedy(links));
    }

    [Fact]
    public async Task AHuggingFaceCacheRepoFolderResolvesThroughRefsMainToItsSnapshot()
    {
        var repo = FakeCache("models--karpathy--stories260K", "0123abcd");
        // An older snapshot that refs/main does not name must not be picked.
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", "ffff0000"));

        var snapshot = Path.Combine(repo, "snapshots", "0123abcd");
        Assert.Equal(snapshot, ModelFolder.Resolve(repo));
        Assert.Equal(snapshot, ModelFolder.Resolve(snapshot));
        Assert.Equal("karpathy/stories260K", ModelFolder.DisplayName(snapshot));
        Assert.Equal(await Greedy(SharedData.Stories260K), await Greedy(repo));

        File.WriteAllText(Path.Combine(repo, "refs", "main"), "deadbeef");
        var e = Assert.Throws<ModelLoadException>(() => ModelFolder.Resolve(repo));
        Assert.Contains("deadbeef", e.Message);
        Assert.Contains(Path.Combine("refs", "main"), e.Message);

        var cacheRoot = Path.GetDirectoryName(repo)!;
        Assert.Contains("models--Org--Name", Assert.Throws<ModelLoadException>(() => ModelFolder.Resolve(cacheRoot)).Message);
    }

    [Fact]
    public void AGgufPathSaysGgufIsNotLoadedAndWhatToPass()
    {
        var gguf = Path.Combine(_root, "stories260K-Q8_0.gguf");
        File.WriteAllBytes(gguf, "GGUF\u0003\0\0\0"u8.ToArray());
        var e = Assert.Throws<ModelLoadException>(() => InferenceEngine.Load(new EngineOptions { ModelPath = gguf }));
        Assert.Contains("GGUF files are not loaded", e.Message);
        Assert.Contains("config.json", e.Message);
        Assert.Contains("models--Org--Name", e.Message);
        Assert.Equal(gguf, e.FilePath);

        var file = Path.Combine(SharedData.Stories260K, "config.json");
        Assert.Contains("names a file", Assert.Throws<ModelLoadException>(() => ModelFolder.Resolve(file)).Message);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("../../../../../../etc/passwd")]
    [InlineData("sub/../../outside.safetensors")]
    [InlineData("")]
    public void AShardIndexPointingOutsideTheFolderIsRefusedWithoutOpeningTheFile(string shard)
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig(), sharded: true);
        // A readable safetensors-looking file just outside the folder: it must never be opened.
        var outside = Path.Combine(Path.GetDirectoryName(ckpt.Folder)!, "outside.safetensors");
        File.WriteAllBytes(outside, "SECRETBYTES-that-must-not-be-echoed"u8.ToArray());
        try
        {
            var index = Path.Combine(ckpt.Folder, "model.safetensors.index.json");
            var json = JsonNode.Parse(File.ReadAllText(index))!.AsObject();
            json["weight_map"]!["model.norm.weight"] = shard;
            File.WriteAllText(index, json.ToJsonString());

            var e = Assert.Throws<ModelLoadException>(() => DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU).Dispose());
            Assert.Equal(index, e.FilePath);
            Assert.Contains("refusing to open it", e.Message);
            Assert.DoesNotContain("SECRET", e.Message);
            Assert.DoesNotContain("root:", e.Message);
            Assert.DoesNotContain("header length", e.Message);
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public void ShardsLinkedIntoTheCacheBlobsLoad()
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig(), sharded: true);
        var repo = Path.Combine(_root, "hub", "models--Org--Tiny");
        var blobs = Path.Combine(repo, "blobs");
        var snapshot = Path.Combine(repo, "snapshots", "c0ffee");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), "c0ffee");
        var n = 0;
        foreach (var file in Directory.GetFiles(ckpt.Folder))
        {
            var blob = Path.Combine(blobs, $"sha{n++}");
            File.Copy(file, blob);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), Path.GetRelativePath(snapshot, blob));
        }
        using var model = DecoderModel.Load(repo, ScalarType.Float32, CPU);
        Assert.Equal(4, model.Config.NumLayers);
        Assert.Equal(ckpt.Weights["model.norm.weight"], model.Weights.FinalNorm.data<float>().ToArray());
    }

    /// <summary>A Hugging Face hub cache repo for stories260K: blobs/ with the files, snapshots/&lt;commit&gt;/ of links, refs/main.</summary>
    private string FakeCache(string repoName, string commit)
    {
        var repo = Path.Combine(_root, "hub", repoName);
        var blobs = Path.Combine(repo, "blobs");
        var snapshot = Path.Combine(repo, "snapshots", commit);
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), commit);
        var n = 0;
        foreach (var file in Directory.GetFiles(SharedData.Stories260K))
        {
            // Blobs link on to the shared files, so a snapshot entry is a chain of two links, as with a cache on another disk.
            var blob = Path.Combine(blobs, $"blob{n++:x8}");
            File.CreateSymbolicLink(blob, file);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), Path.GetRelativePath(snapshot, blob));
        }
        return repo;
    }
}
