using System.Globalization;
using LayerSkip.Engine.Generation;

namespace LayerSkip.Cli.Options;

/// <summary>Reads sampling settings written as "temperature=0.8,top-k=40,top-p=0.95".</summary>
internal static class SamplingSpec
{
    private const string Names = "temperature, top-k, top-p, frequency-penalty, presence-penalty, seed";

    public static SamplingOptions Parse(string option, string spec)
    {
        var options = new SamplingOptions();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0) throw new CliException($"--{option} takes name=value pairs ({Names}), got '{part}'.");
            var name = part[..eq].Trim().ToLowerInvariant();
            var value = part[(eq + 1)..].Trim();
            options = name switch
            {
                "temperature" => options with { Temperature = Number(option, name, value) },
                "top-k" => options with { TopK = Integer(option, name, value) },
                "top-p" => options with { TopP = Number(option, name, value) },
                "frequency-penalty" => options with { FrequencyPenalty = Number(option, name, value) },
                "presence-penalty" => options with { PresencePenalty = Number(option, name, value) },
                "seed" => options with { Seed = Integer(option, name, value) },
                _ => throw new CliException($"--{option}: unknown setting '{name}' (known: {Names})."),
            };
        }
        if (!(options.Temperature > 0)) throw new CliException($"--{option} needs temperature > 0 (temperature 0 is greedy decoding).");
        try
        {
            options.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new CliException($"--{option}: {e.Message.Split('(')[0].Trim()}");
        }
        return options;
    }

    /// <summary>The settings in the form <see cref="Parse"/> reads.</summary>
    public static string Format(SamplingOptions o)
    {
        var parts = new List<string> { string.Create(CultureInfo.InvariantCulture, $"temperature={o.Temperature}") };
        if (o.TopK is { } k) parts.Add($"top-k={k}");
        if (o.TopP is { } p) parts.Add(string.Create(CultureInfo.InvariantCulture, $"top-p={p}"));
        if (o.FrequencyPenalty != 0) parts.Add(string.Create(CultureInfo.InvariantCulture, $"frequency-penalty={o.FrequencyPenalty}"));
        if (o.PresencePenalty != 0) parts.Add(string.Create(CultureInfo.InvariantCulture, $"presence-penalty={o.PresencePenalty}"));
        return string.Join(',', parts);
    }

    private static double Number(string option, string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new CliException($"--{option}: {name} must be a number, got '{value}'.");

    private static int Integer(string option, string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new CliException($"--{option}: {name} must be an integer, got '{value}'.");
}
