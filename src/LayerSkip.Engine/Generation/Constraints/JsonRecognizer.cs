using System.Text.Json;

namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>
/// Incremental, character-level recogniser for one JSON value, optionally restricted by a JSON Schema
/// (see <see cref="JsonConstraint"/> for the supported schema subset). A pushdown automaton whose state is a small
/// value plus a persistent (shared, immutable) stack, so <see cref="Clone"/> is O(1).
/// </summary>
/// <remarks>
/// Whitespace between tokens is limited to <see cref="JsonConstraintOptions.MaxWhitespaceRun"/> characters in a row;
/// after the value is closed only such whitespace may follow. Strings reject raw control characters and surrogate
/// <c>\uD800-\uDFFF</c> escapes. Not thread-safe; clone per thread.
/// </remarks>
internal sealed class JsonRecognizer
{
    internal JsonState State;
    internal readonly JsonLimits Limits;

    internal JsonRecognizer(JsonState state, JsonLimits limits)
    {
        State = state;
        Limits = limits;
    }

    /// <summary>Creates a recogniser for any JSON value, or for values valid under <paramref name="schema"/>.</summary>
    public static JsonRecognizer Create(JsonElement? schema = null, JsonConstraintOptions? options = null)
    {
        options ??= JsonConstraintOptions.Default;
        options.Validate();
        return new JsonRecognizer(JsonState.Start(JsonSchemaCompiler.Compile(schema, options.Strict)), new JsonLimits(options));
    }

    /// <summary>An independent copy of the current state (cheap).</summary>
    public JsonRecognizer Clone() => new(State, Limits);

    /// <summary>True if <paramref name="c"/> may be appended now (state unchanged).</summary>
    public bool CanAppend(char c)
    {
        var s = State;
        return JsonMachine.Step(ref s, c, Limits);
    }

    /// <summary>Appends <paramref name="c"/> if allowed; returns false (state unchanged) otherwise.</summary>
    public bool TryAppend(char c)
    {
        var s = State;
        if (!JsonMachine.Step(ref s, c, Limits)) return false;
        State = s;
        return true;
    }

    /// <summary>Appends all of <paramref name="text"/> if every character is allowed; otherwise leaves the state unchanged.</summary>
    public bool TryAppend(ReadOnlySpan<char> text)
    {
        var s = State;
        foreach (var c in text)
            if (!JsonMachine.Step(ref s, c, Limits)) return false;
        State = s;
        return true;
    }

    /// <summary>The text so far is a complete JSON value (a top-level number may still grow).</summary>
    public bool IsComplete => JsonMachine.IsComplete(in State);

    /// <summary>The value has been closed: only trailing whitespace may follow.</summary>
    public bool IsClosed => State.Mode == JsonMode.Done;
}
