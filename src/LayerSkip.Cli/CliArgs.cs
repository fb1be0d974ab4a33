using System.Globalization;

namespace LayerSkip.Cli;

/// <summary>"--name value" options and "--flag" switches after the command word; unknown options are an error.</summary>
public sealed class CliArgs
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _read = new(StringComparer.OrdinalIgnoreCase);

    public CliArgs(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new CliException($"Unexpected argument '{a}'.");
            var name = a[2..];
            string? value = null;
            var eq = name.IndexOf('=');
            if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            else if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal)) value = list[++i];
            _values[name] = value;
        }
    }

    public string? String(string name)
    {
        _read.Add(name);
        return _values.TryGetValue(name, out var v) ? v ?? throw new CliException($"--{name} needs a value.") : null;
    }

    public string Required(string name) => String(name) ?? throw new CliException($"--{name} is required.");

    public bool Flag(string name)
    {
        _read.Add(name);
        return _values.ContainsKey(name);
    }

    public int? Int(string name) => String(name) is { } s
        ? int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new CliException($"--{name} must be an integer, got '{s}'.")
        : null;

    public double? Double(string name) => String(name) is { } s
        ? double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new CliException($"--{name} must be a number, got '{s}'.")
        : null;

    public IReadOnlyList<string> List(string name, params string[] defaults) =>
        String(name) is { } s ? s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : defaults;

    public IReadOnlyList<int> IntList(string name, params int[] defaults) =>
        List(name).Count == 0 && String(name) is null ? defaults : List(name).Select(x => int.TryParse(x, CultureInfo.InvariantCulture, out var v) ? v : throw new CliException($"--{name} takes integers, got '{x}'.")).ToArray();

    public IReadOnlyList<double> DoubleList(string name, params double[] defaults) =>
        String(name) is null ? defaults : List(name).Select(x => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new CliException($"--{name} takes numbers, got '{x}'.")).ToArray();

    /// <summary>Fails on options the command never asked about (typos).</summary>
    public void EnsureAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new CliException($"Unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}.");
    }
}

/// <summary>A usage error: printed without a stack trace, exit code 2.</summary>
public sealed class CliException(string message) : Exception(message);
