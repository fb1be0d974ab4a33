namespace LayerSkip.Engine.Loading;

/// <summary>
/// Turns a model path as users have it into the folder that holds config.json: a plain folder (or a link to one),
/// or a Hugging Face cache repo folder (<c>models--Org--Name</c>), resolved through <c>refs/main</c> to its snapshot.
/// Files inside a cache snapshot are links into <c>blobs/</c>; the loaders follow them.
/// </summary>
public static class ModelFolder
{
    /// <summary>The folder to load from <paramref name="modelPath"/>.</summary>
    /// <exception cref="ModelLoadException">The path is missing, a file (a GGUF file says what to pass instead), or a cache folder without a snapshot.</exception>
    public static string Resolve(string modelPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        var path = Path.GetFullPath(modelPath);
        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            throw new ModelLoadException(
                "GGUF files are not loaded: this engine reads a Hugging Face model folder (config.json, *.safetensors, tokenizer files). " +
                "Pass the folder of the original model, e.g. one made by `hf download Org/Name --local-dir DIR`, or its models--Org--Name folder in the Hugging Face cache", path);
        if (File.Exists(path))
            throw new ModelLoadException(
                "The model path names a file; pass the Hugging Face model folder that holds config.json, *.safetensors and the tokenizer files", path);
        if (!Directory.Exists(path))
            throw new ModelLoadException("Model folder not found", path);
        if (File.Exists(Path.Combine(path, "config.json"))) return path;

        var snapshots = Path.Combine(path, "snapshots");
        if (Directory.Exists(snapshots)) return Snapshot(path, snapshots);
        if (Directory.EnumerateDirectories(path, "models--*").Any())
            throw new ModelLoadException("This is a Hugging Face cache root; pass one of its models--Org--Name folders", path);
        return path; // the loaders say what is missing
    }

    /// <summary>The snapshot <c>refs/main</c> names, or the only snapshot when there is no ref.</summary>
    private static string Snapshot(string repo, string snapshots)
    {
        var refFile = Path.Combine(repo, "refs", "main");
        if (File.Exists(refFile))
        {
            var commit = File.ReadAllText(refFile).Trim();
            if (commit.Length is 0 or > 100 || commit.Any(c => !char.IsAsciiLetterOrDigit(c)))
                throw new ModelLoadException("refs/main of the Hugging Face cache folder does not hold a commit hash", refFile);
            var snapshot = Path.Combine(snapshots, commit);
            return Directory.Exists(snapshot)
                ? snapshot
                : throw new ModelLoadException($"refs/main names snapshot {commit}, which is not in snapshots/ (an interrupted download?)", refFile);
        }
        var all = Directory.GetDirectories(snapshots);
        return all.Length == 1
            ? all[0]
            : throw new ModelLoadException(
                $"The Hugging Face cache folder has no refs/main and {all.Length} snapshots; pass the snapshots/<commit> folder to use", repo);
    }

    /// <summary>A readable model name for a folder: <c>Org/Name</c> for a cache snapshot, else the folder's name.</summary>
    public static string DisplayName(string folder)
    {
        var dir = new DirectoryInfo(Path.TrimEndingDirectorySeparator(folder));
        if (dir.Parent is { Name: "snapshots", Parent: { } repo } && repo.Name.StartsWith("models--", StringComparison.Ordinal))
            return repo.Name["models--".Length..].Replace("--", "/");
        return dir.Name;
    }
}
