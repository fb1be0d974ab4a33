namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>
/// Limits applied by <see cref="JsonRecognizer"/> and <see cref="JsonConstraint"/> on top of the JSON grammar and schema,
/// so that even a tiny model cannot loop forever (on whitespace, digits or nesting) or produce numbers that
/// <see cref="System.Text.Json.JsonSerializer"/> cannot bind.
/// </summary>
internal sealed class JsonConstraintOptions
{
    /// <summary>Shared default instance.</summary>
    public static JsonConstraintOptions Default { get; } = new();

    /// <summary>Most whitespace characters (space, tab, CR, LF) allowed in a row between JSON tokens, before the value
    /// and after it. Default 4. Whitespace inside strings is not limited by this.</summary>
    public int MaxWhitespaceRun { get; init; } = 4;

    /// <summary>Most nested objects/arrays. At this depth a value may only open another container if its schema allows
    /// nothing else. Default 32.</summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>Most digits of a schema <c>"integer"</c> value (default 9, so it always fits an <see cref="int"/>).</summary>
    public int MaxIntegerDigits { get; init; } = 9;

    /// <summary>Most digits in the integer part of a <c>"number"</c> value. Default 15.</summary>
    public int MaxNumberDigits { get; init; } = 15;

    /// <summary>Most digits in the fraction part of a <c>"number"</c> value. Default 15.</summary>
    public int MaxFractionDigits { get; init; } = 15;

    /// <summary>Most exponent digits of a <c>"number"</c> value; 0 disallows exponents. Default 1 (so the value still
    /// fits <see cref="decimal"/>).</summary>
    public int MaxExponentDigits { get; init; } = 1;

    /// <summary>Strict schemas (default true, as in OpenAI's strict structured outputs): an object schema without
    /// <c>additionalProperties</c> allows only its listed properties. False keeps such objects open to any keys.</summary>
    public bool Strict { get; init; } = true;

    internal void Validate()
    {
        if (MaxWhitespaceRun < 0 || MaxDepth < 1 || MaxIntegerDigits < 1 || MaxNumberDigits < 1 || MaxFractionDigits < 1 || MaxExponentDigits < 0)
            throw new ArgumentOutOfRangeException(nameof(JsonConstraintOptions), "JSON constraint limits must be positive (MaxWhitespaceRun/MaxExponentDigits may be 0).");
    }
}
