using System.Text.Json;

namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>A function a constrained tool call may name, with the JSON Schema of its arguments.</summary>
/// <param name="Name">The function name the call must carry.</param>
/// <param name="ParametersSchema">The arguments' JSON Schema (an object schema).</param>
/// <param name="Strict">Strict schema semantics (object schemas without <c>additionalProperties</c> are closed).</param>
public sealed record FunctionSchema(string Name, JsonElement ParametersSchema, bool Strict = true);

/// <summary>
/// What a constrained response may be: one or more alternatives, each a fixed prefix, one JSON value under a schema,
/// and a fixed suffix (e.g. <c>&lt;tool_call&gt;\n</c> + a call object + <c>\n&lt;/tool_call&gt;</c>). The first
/// character decides the alternative, so alternatives must start differently (a tag versus a JSON value).
/// </summary>
public sealed class OutputGrammar
{
    internal readonly GrammarBranch[] Branches;

    private OutputGrammar(GrammarBranch[] branches)
    {
        foreach (var b in branches) JsonMinimalValues.Compute(b.Root);
        Branches = branches;
    }

    /// <summary>One JSON value valid under <paramref name="schema"/> (any value when null).</summary>
    /// <exception cref="ArgumentException">The schema uses a construct the constraint cannot honour.</exception>
    public static OutputGrammar Json(JsonElement? schema, bool strict = true) =>
        new([new GrammarBranch("", JsonSchemaCompiler.Compile(schema, strict), "")]);

    /// <summary>One JSON object with any content (schema-less JSON mode).</summary>
    public static OutputGrammar JsonObject() => new([new GrammarBranch("", JsonSchemaCompiler.AnyObject(), "")]);

    /// <summary>
    /// One function call <c>{"name": N, argumentsKey: {...}}</c> between <paramref name="prefix"/> and
    /// <paramref name="suffix"/>: the name is one of <paramref name="functions"/>, and the arguments follow the
    /// schema of the function named.
    /// </summary>
    /// <exception cref="ArgumentException">A parameters schema uses a construct the constraint cannot honour.</exception>
    public static OutputGrammar FunctionCall(IReadOnlyList<FunctionSchema> functions, string argumentsKey = "arguments", string prefix = "", string suffix = "")
    {
        ArgumentNullException.ThrowIfNull(functions);
        var root = JsonSchemaCompiler.FunctionCall(functions.Select(f => (f.Name, f.ParametersSchema, f.Strict)).ToList(), argumentsKey);
        return new([new GrammarBranch(prefix ?? "", root, suffix ?? "")]);
    }

    /// <summary>Either this output or <paramref name="other"/>, decided by the first character.</summary>
    public OutputGrammar Or(OutputGrammar other) => new([.. Branches, .. other.Branches]);
}

internal sealed record GrammarBranch(string Prefix, JsonSchemaNode Root, string Suffix);

/// <summary>Where a response stands in an <see cref="OutputGrammar"/>: the branch chosen (-1 before the first
/// character), the part (prefix, JSON value, suffix, done), the position in a fixed text, and the JSON state.</summary>
internal struct GrammarState
{
    public const byte InPrefix = 0, InJson = 1, InSuffix = 2, Finished = 3;

    public int Branch;
    public byte Part;
    public int Pos;
    public JsonState Json;

    public static GrammarState Start => new() { Branch = -1 };

    public static GrammarState Enter(GrammarBranch b, int index) => new()
    {
        Branch = index,
        Part = b.Prefix.Length > 0 ? InPrefix : InJson,
        Json = JsonState.Start(b.Root),
    };
}

/// <summary>The character-level machine over an <see cref="OutputGrammar"/>.</summary>
internal static class GrammarMachine
{
    public static bool Step(OutputGrammar g, ref GrammarState s, char c, JsonLimits lim)
    {
        if (s.Branch >= 0) return StepIn(g.Branches[s.Branch], ref s, c, lim);
        for (var i = 0; i < g.Branches.Length; i++)
        {
            var t = GrammarState.Enter(g.Branches[i], i);
            if (!StepIn(g.Branches[i], ref t, c, lim)) continue;
            s = t;
            return true;
        }
        return false;
    }

    private static bool StepIn(GrammarBranch b, ref GrammarState s, char c, JsonLimits lim)
    {
        switch (s.Part)
        {
            case GrammarState.InPrefix:
                if (c != b.Prefix[s.Pos]) return false;
                if (++s.Pos == b.Prefix.Length) { s.Part = GrammarState.InJson; s.Pos = 0; }
                return true;
            case GrammarState.InJson:
                // once the value is complete, the suffix wins over trailing whitespace
                if (b.Suffix.Length > 0 && c == b.Suffix[0] && JsonMachine.IsComplete(in s.Json))
                {
                    var probe = s.Json;
                    if (s.Json.Mode == JsonMode.Done || !JsonMachine.Step(ref probe, c, lim))
                    {
                        s.Part = b.Suffix.Length == 1 ? GrammarState.Finished : GrammarState.InSuffix;
                        s.Pos = 1;
                        return true;
                    }
                }
                return JsonMachine.Step(ref s.Json, c, lim);
            case GrammarState.InSuffix:
                if (c != b.Suffix[s.Pos]) return false;
                if (++s.Pos == b.Suffix.Length) s.Part = GrammarState.Finished;
                return true;
            default:
                return false;
        }
    }

    /// <summary>The output so far is complete (EOS may follow).</summary>
    public static bool IsComplete(OutputGrammar g, in GrammarState s) =>
        s.Branch >= 0 && (s.Part == GrammarState.Finished
            || s.Part == GrammarState.InJson && g.Branches[s.Branch].Suffix.Length == 0 && JsonMachine.IsComplete(in s.Json));

    /// <summary>Nothing but EOS (or trailing whitespace) may follow.</summary>
    public static bool IsClosed(OutputGrammar g, in GrammarState s) =>
        s.Branch >= 0 && (s.Part == GrammarState.Finished
            || s.Part == GrammarState.InJson && g.Branches[s.Branch].Suffix.Length == 0 && s.Json.Mode == JsonMode.Done);

    /// <summary>Shortest texts completing the output from <paramref name="s"/>: one per branch still open.</summary>
    public static IEnumerable<string> ShortestCompletions(OutputGrammar g, GrammarState s, JsonLimits lim)
    {
        if (s.Branch < 0)
        {
            foreach (var b in g.Branches) yield return b.Prefix + b.Root.MinimalText + b.Suffix;
            yield break;
        }
        var br = g.Branches[s.Branch];
        yield return s.Part switch
        {
            GrammarState.InPrefix => br.Prefix[s.Pos..] + br.Root.MinimalText + br.Suffix,
            GrammarState.InJson => JsonMachine.ShortestCompletion(s.Json, lim) + br.Suffix,
            GrammarState.InSuffix => br.Suffix[s.Pos..],
            _ => "",
        };
    }
}
