namespace LayerSkip.Templates;

/// <summary>A host function callable from a template; arguments arrive as plain .NET values (null, bool, long, double, string, List, Dictionary).</summary>
internal delegate object? TemplateFunction(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);
