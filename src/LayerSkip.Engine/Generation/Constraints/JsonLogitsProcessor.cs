using System.Text.Json;

namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>
/// Constrains sampling to an <see cref="OutputGrammar"/> (JSON, optionally under a schema, or a wrapped tool call):
/// masks every token that cannot continue it and allows EOS once it is complete. With a token budget the output is
/// closed in time (see <see cref="BudgetForcedClose"/>). One instance per request.
/// </summary>
public sealed class JsonLogitsProcessor : ILogitsProcessor
{
    /// <summary>
    /// At most one whitespace character between JSON tokens: small models otherwise spend their token budget on
    /// newlines and indentation; the output stays valid JSON either way.
    /// </summary>
    private static readonly JsonConstraintOptions Compact = new() { MaxWhitespaceRun = 1 };

    private readonly JsonConstraint _constraint;
    private readonly IReadOnlyCollection<int> _eos;
    private bool[] _mask = [];

    /// <param name="vocabulary">The model's vocabulary, shared by every request.</param>
    /// <param name="schema">A JSON Schema the value must match; any JSON value when null.</param>
    /// <param name="eosTokenIds">End-of-sequence ids: never fed to the constraint, forced when nothing else is allowed.</param>
    public JsonLogitsProcessor(JsonConstraintVocabulary vocabulary, JsonElement? schema, IReadOnlyCollection<int> eosTokenIds)
        : this(vocabulary, OutputGrammar.Json(schema), eosTokenIds, tokenBudget: null)
    {
    }

    /// <param name="vocabulary">The model's vocabulary, shared by every request.</param>
    /// <param name="grammar">What the output may be.</param>
    /// <param name="eosTokenIds">End-of-sequence ids: never fed to the constraint, forced when nothing else is allowed.</param>
    /// <param name="tokenBudget">The most tokens the output may take (EOS not counted); null for no limit. A budget
    /// below the shortest complete output is raised to it (see <see cref="TokenBudget"/>).</param>
    public JsonLogitsProcessor(JsonConstraintVocabulary vocabulary, OutputGrammar grammar, IReadOnlyCollection<int> eosTokenIds, int? tokenBudget)
    {
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        _constraint = new JsonConstraint(vocabulary, grammar, Compact, tokenBudget);
        _eos = eosTokenIds;
    }

    /// <summary>The budget in force: the one given, or the shortest complete output when that is longer.</summary>
    public int? TokenBudget => _constraint.TokenBudget;

    /// <summary>The budget ruled out tokens the grammar allowed, closing the output early.</summary>
    public bool BudgetForcedClose => _constraint.BudgetForcedClose;

    /// <summary>The output so far is complete.</summary>
    public bool IsComplete => _constraint.IsComplete;

    public void ComputeAllowed(Span<bool> allowed)
    {
        if (_mask.Length != _constraint.VocabularySize) _mask = new bool[_constraint.VocabularySize];
        _constraint.ComputeAllowedMask(_mask);
        _mask.AsSpan(0, Math.Min(allowed.Length, _mask.Length)).CopyTo(allowed);
        // A closed value with no EOS in the mask: end the sequence rather than sample nothing.
        if (!allowed.Contains(true))
            foreach (var id in _eos)
                if (id < allowed.Length) allowed[id] = true;
    }

    public void Accept(int tokenId)
    {
        if (!_eos.Contains(tokenId)) _constraint.TryAccept(tokenId);
    }
}
