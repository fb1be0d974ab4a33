using LayerSkip.Engine.Generation;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Cli.Options;

/// <summary>
/// Factories for the kinds of option the commands use, so each declaration is one line: a name, a description and
/// a default shown in --help. Lists are comma-separated ("--speedup 1.5,2,3"); bad values are parse errors (exit 2).
/// </summary>
internal static class Opt
{
    public static Option<T> Value<T>(string name, string description, T defaultValue, string? helpName = null) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = helpName ?? HelpName<T>() };

    /// <summary>An option whose absence means "let the command decide" (null).</summary>
    public static Option<T?> Maybe<T>(string name, string description, string? helpName = null) where T : struct =>
        new(name) { Description = description, HelpName = helpName ?? HelpName<T>() };

    public static Option<string?> Text(string name, string description, string helpName = "text") =>
        new(name) { Description = description, HelpName = helpName };

    public static Option<string> Required(string name, string description, string helpName = "text") =>
        new(name) { Description = description, Required = true, HelpName = helpName };

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>A path that must name an existing file; the error names the option and the path.</summary>
    public static Option<string> ExistingFile(string name, string description, bool required = true)
    {
        var option = new Option<string>(name) { Description = description, Required = required, HelpName = "file" };
        option.Validators.Add(result =>
        {
            var path = result.GetValueOrDefault<string>();
            if (path is not null && !File.Exists(path)) result.AddError($"{name}: file not found: {path}");
        });
        return option;
    }

    public static Option<double[]> Doubles(string name, string description, params double[] defaults) =>
        List(name, description, defaults, "R,R,...", s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null, "numbers");

    public static Option<int[]> Ints(string name, string description, params int[] defaults) =>
        List(name, description, defaults, "N,N,...", s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null, "integers");

    /// <summary>Comma-separated weight precisions: none (the model's own), int8, int4.</summary>
    public static Option<WeightFormat[]> Precisions(string name, string description, params WeightFormat[] defaults) =>
        List(name, description, defaults, "none,int8,int4", s => s.Trim().ToLowerInvariant() switch
        {
            "none" or "same" => WeightFormat.None,
            "int8" => WeightFormat.Int8,
            "int4" => WeightFormat.Int4,
            _ => (WeightFormat?)null,
        }, "precisions (none, int8, int4)");

    public static Option<DraftSource[]> DraftSources(string name, string description, params DraftSource[] defaults) =>
        List(name, description, defaults, "model,lookup", s => s.Trim().ToLowerInvariant() switch
        {
            "model" => DraftSource.Model,
            "lookup" => DraftSource.Lookup,
            _ => (DraftSource?)null,
        }, "draft sources (model, lookup)");

    /// <summary>Comma-separated integers with no default (null when absent), e.g. an explicit layer list.</summary>
    public static Option<int[]?> LayerList(string name, string description)
    {
        var option = new Option<int[]?>(name) { Description = description, HelpName = "0,3,7", DefaultValueFactory = _ => null };
        option.CustomParser = result => result.Tokens.Count == 0 ? null
            : ParseList(result, s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : (int?)null, "integers");
        return option;
    }

    public static Option<LayerPolicy?> Policy(string name, string description)
    {
        var option = new Option<LayerPolicy?>(name) { Description = description, HelpName = "name" };
        option.CustomParser = result => result.Tokens.Count == 0 ? null : ParsePolicy(result, result.Tokens[0].Value);
        option.CompletionSources.Add(LayerPlanner.PolicyNames.ToArray());
        return option;
    }

    public static Option<LayerPolicy[]> Policies(string name, string description, params LayerPolicy[] defaults)
    {
        var option = new Option<LayerPolicy[]>(name) { Description = description, HelpName = "name,...", DefaultValueFactory = _ => defaults };
        option.CustomParser = result => result.Tokens.Count == 0 ? defaults : Split(result).Select(s => ParsePolicy(result, s)).OfType<LayerPolicy>().ToArray();
        option.CompletionSources.Add(LayerPlanner.PolicyNames.ToArray());
        return option;
    }

    /// <summary>One of a fixed set of words (completions and an error listing them).</summary>
    public static Option<string> OneOf(string name, string description, string defaultValue, params string[] allowed) =>
        new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = string.Join('|', allowed) }.AcceptOnlyFromAmong(allowed);

    private static Option<T[]> List<T>(string name, string description, T[] defaults, string helpName, Func<string, T?> parse, string kind) where T : struct
    {
        var option = new Option<T[]>(name) { Description = description, HelpName = helpName, DefaultValueFactory = _ => defaults };
        option.CustomParser = result => result.Tokens.Count == 0 ? defaults : ParseList(result, parse, kind) ?? defaults;
        return option;
    }

    private static T[]? ParseList<T>(ArgumentResult result, Func<string, T?> parse, string kind) where T : struct
    {
        var values = new List<T>();
        foreach (var item in Split(result))
        {
            if (parse(item) is { } v) values.Add(v);
            else
            {
                result.AddError($"{OptionName(result)} takes comma-separated {kind}, got '{item}'.");
                return null;
            }
        }
        return values.ToArray();
    }

    private static IEnumerable<string> Split(ArgumentResult result) =>
        result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static LayerPolicy? ParsePolicy(ArgumentResult result, string name)
    {
        try { return LayerPlanner.ParsePolicy(name); }
        catch (ArgumentException e)
        {
            result.AddError($"{OptionName(result)}: {e.Message.Split(" (Parameter", 2)[0]}");
            return null;
        }
    }

    private static string OptionName(ArgumentResult result) => (result.Parent as OptionResult)?.Option.Name ?? "option";

    /// <summary>The value of a <see cref="LayerList"/> option: null when it was not given.</summary>
    public static int[]? GetLayers(this ParseResult parse, Option<int[]?> option) => parse.GetValue(option) is { Length: > 0 } layers ? layers : null;

    /// <summary>What --help shows as the value: n for integers, x for numbers, the option's name otherwise.</summary>
    private static string? HelpName<T>() =>
        typeof(T) == typeof(int) || typeof(T) == typeof(int?) ? "n" : typeof(T) == typeof(double) || typeof(T) == typeof(double?) ? "x" : null;

    /// <summary>Adds options to a command in the order --help lists them.</summary>
    public static void AddAll(this Command command, params Option[] options)
    {
        foreach (var o in options) command.Options.Add(o);
    }
}
