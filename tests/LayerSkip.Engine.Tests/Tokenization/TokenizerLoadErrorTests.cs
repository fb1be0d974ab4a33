using LayerSkip.Engine.Tokenization;
using LayerSkip.Tests;

namespace LayerSkip.Engine.Tests.Tokenization;

/// <summary>Bad model folders fail with an exception that names the file and the problem.</summary>
public sealed class TokenizerLoadErrorTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("layerskip-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Missing_folder()
    {
        var missing = Path.Combine(_folder, "nope");
        var ex = Assert.Throws<DirectoryNotFoundException>(() => TextTokenizer.Load(missing));
        Assert.Contains(missing, ex.Message);
    }

    [Fact]
    public void Folder_without_tokenizer_files()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => TextTokenizer.Load(_folder));
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains("tokenizer.model", ex.Message);
    }

    [Fact]
    public void Corrupt_tokenizer_json()
    {
        var path = Write("tokenizer.json", "{ \"model\": { \"type\": \"BPE\", \"vocab\": {");
        var ex = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(_folder));
        Assert.Contains(path, ex.Message);
        Assert.Contains("JSON", ex.Message);
    }

    [Fact]
    public void Tokenizer_json_without_a_model()
    {
        var path = Write("tokenizer.json", "{ \"version\": \"1.0\" }");
        var ex = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(_folder));
        Assert.Contains(path, ex.Message);
        Assert.Contains("model", ex.Message);
    }

    [Fact]
    public void Unsupported_model_type()
    {
        var path = Write("tokenizer.json", "{ \"model\": { \"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]] } }");
        var ex = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(_folder));
        Assert.Contains(path, ex.Message);
        Assert.Contains("Unigram", ex.Message);
    }

    [Fact]
    public void Unsupported_pre_tokenizer()
    {
        Write("tokenizer.json", """
            { "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] },
              "pre_tokenizer": { "type": "Metaspace", "replacement": "▁" }, "decoder": { "type": "ByteLevel" } }
            """);
        var ex = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(_folder));
        Assert.Contains("Metaspace", ex.Message);
        Assert.Contains("tokenizer.json", ex.Message);
    }

    [Fact]
    public void Merge_naming_a_missing_token()
    {
        Write("tokenizer.json", """
            { "model": { "type": "BPE", "vocab": { "a": 0, "b": 1 }, "merges": ["a c"], "byte_fallback": true } }
            """);
        var ex = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(_folder));
        Assert.Contains("a c", ex.Message);
    }

    [Fact]
    public void Corrupt_tokenizer_model()
    {
        var path = Path.Combine(_folder, "tokenizer.model");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF, 0x01, 0x02, 0x03, 0x99]);
        var ex = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(_folder));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Corrupt_tokenizer_config_json()
    {
        File.Copy(Path.Combine(SharedData.Stories260K, "tokenizer.json"), Path.Combine(_folder, "tokenizer.json"));
        var path = Write("tokenizer_config.json", "{ \"bos_token\": ");
        var ex = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(_folder));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Config_naming_an_unknown_bos_token()
    {
        File.Copy(Path.Combine(SharedData.Stories260K, "tokenizer.json"), Path.Combine(_folder, "tokenizer.json"));
        var path = Write("tokenizer_config.json", "{ \"bos_token\": \"<|nope|>\" }");
        var ex = Assert.Throws<InvalidDataException>(() => TextTokenizer.Load(_folder));
        Assert.Contains(path, ex.Message);
        Assert.Contains("<|nope|>", ex.Message);
    }

    [Fact]
    public void Tokenizer_json_alone_uses_its_post_processor_for_bos()
    {
        File.Copy(Path.Combine(SharedData.Stories260K, "tokenizer.json"), Path.Combine(_folder, "tokenizer.json"));
        var tokenizer = TextTokenizer.Load(_folder);
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.True(tokenizer.AddBosByDefault);
        Assert.Null(tokenizer.EosTokenId);
    }
}
