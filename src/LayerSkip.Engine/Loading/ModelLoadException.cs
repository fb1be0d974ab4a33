namespace LayerSkip.Engine.Loading;

/// <summary>A model folder, config or checkpoint that cannot be used; the message names the file and the problem.</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string message, string? path = null, Exception? inner = null)
        : base(path is null || message.Contains(path, StringComparison.Ordinal) ? message : $"{message} ({path})", inner) => FilePath = path;

    /// <summary>The file or folder at fault, when there is one.</summary>
    public string? FilePath { get; }
}
