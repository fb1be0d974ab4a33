using System.Text.Json;

namespace LayerSkip.Cli.Output;

/// <summary>
/// Appends one JSON object per line to a file, flushed after each, so a run that is interrupted keeps every row it
/// measured. A null path writes nothing.
/// </summary>
internal sealed class JsonLinesFile : IDisposable
{
    private readonly StreamWriter? _writer;

    public JsonLinesFile(string? path)
    {
        if (path is null) return;
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
    }

    public void Write<T>(T row)
    {
        if (_writer is null) return;
        _writer.WriteLine(JsonSerializer.Serialize(row));
        _writer.Flush();
    }

    public void Dispose() => _writer?.Dispose();
}
