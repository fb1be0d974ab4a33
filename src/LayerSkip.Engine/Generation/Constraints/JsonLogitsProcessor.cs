using System.Text.Json;

namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>
/// Constrains sampling to JSON: masks every token that cannot continue a valid JSON value (valid under
/// <c>schema</c> when one is given) and allows EOS once the value is complete. One instance per request.
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
    {
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        _constraint = new JsonConstraint(vocabulary, schema, Compact);
        _eos = eosTokenIds;
    }

    public void Process(Span<float> logits)
    {
        if (_mask.Length != _constraint.VocabularySize) _mask = new bool[_constraint.VocabularySize];
        _constraint.ComputeAllowedMask(_mask);
        var any = false;
        for (var i = 0; i < logits.Length; i++)
        {
            var allowed = i < _mask.Length && _mask[i];
            if (!allowed) logits[i] = float.NegativeInfinity;
            any |= allowed;
        }
        // A closed value with no EOS in the mask: end the sequence rather than sample nothing.
        if (!any)
            foreach (var id in _eos)
                if (id < logits.Length) logits[id] = 0;
    }

    public void Accept(int tokenId)
    {
        if (!_eos.Contains(tokenId)) _constraint.TryAccept(tokenId);
    }
}
