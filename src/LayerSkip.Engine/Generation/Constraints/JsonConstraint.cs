using System.Text;
using System.Text.Json;

namespace LayerSkip.Engine.Generation.Constraints;

/// <summary>
/// The vocabulary side of JSON-constrained decoding (<see cref="JsonLogitsProcessor"/>): token texts in a character
/// trie, plus the EOS ids. Build once per tokenizer (it costs tens of milliseconds for a 50k vocabulary) and share:
/// it is immutable and thread-safe.
/// </summary>
public sealed class JsonConstraintVocabulary
{
    internal readonly VocabularyTrie Trie;
    internal readonly int[] EosIds;

    /// <param name="tokenTexts">Decoded text of each token id as it appears mid-sequence; null or empty for special
    /// tokens, which are never allowed.</param>
    /// <param name="eosTokenIds">End-of-sequence ids: allowed only once the JSON value is complete.</param>
    public JsonConstraintVocabulary(IReadOnlyList<string?> tokenTexts, IEnumerable<int> eosTokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenTexts);
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        EosIds = eosTokenIds.Where(i => i >= 0 && i < tokenTexts.Count).Distinct().ToArray();
        var eos = new HashSet<int>(EosIds);
        Trie = new VocabularyTrie(tokenTexts, i => !eos.Contains(i));
        TokenTexts = tokenTexts;
    }

    /// <summary>The token texts this vocabulary was built from.</summary>
    internal IReadOnlyList<string?> TokenTexts { get; }

    /// <summary>Number of token ids (the mask length).</summary>
    internal int Count => TokenTexts.Count;

    /// <summary>The end-of-sequence token ids.</summary>
    internal IReadOnlyList<int> EosTokenIds => EosIds;
}

/// <summary>
/// Token-level JSON-constrained decoding: for the current state, which token ids keep the output a prefix of valid
/// JSON (optionally valid under a JSON Schema), so <c>ResponseFormat</c> Json / JsonSchema always yields parsable JSON.
/// </summary>
/// <remarks>
/// <para><b>Use:</b> before sampling each token call <see cref="ComputeAllowedMask"/> and drop disallowed logits;
/// after sampling call <see cref="Accept"/>. Stop when an EOS id is accepted or <see cref="IsClosed"/> (if the
/// model has no EOS id in the vocabulary given, closing the value is the only stop signal). A token may carry
/// whitespace after the end of the value; once the value is closed only EOS is allowed.
/// A top-level number is complete but may still grow, so then both EOS and more digits are allowed.</para>
/// <para><b>Supported JSON Schema subset</b> (every other keyword is ignored; malformed schemas never throw, they loosen):</para>
/// <list type="bullet">
/// <item><c>type</c>: <c>object</c>, <c>array</c>, <c>string</c>, <c>number</c>, <c>integer</c>, <c>boolean</c>,
///   <c>null</c>, or an array of them (nullable: <c>["string","null"]</c>). No <c>type</c> = any type.</item>
/// <item>objects: <c>properties</c> are produced in schema order, each at most once; <c>required</c> ones cannot be
///   skipped and the object cannot close before them. When <c>properties</c> is non-empty or
///   <c>additionalProperties</c> is <c>false</c>, only the listed keys may appear (matched character by character);
///   otherwise keys are free strings (which may repeat) whose values follow an <c>additionalProperties</c> schema (or anything).
///   Keys are matched in canonical form: <c>"</c>, <c>\</c> and control characters escaped, non-ASCII as lower-case
///   <c>\uXXXX</c>.</item>
/// <item>arrays: <c>items</c> (a single schema), <c>minItems</c>, <c>maxItems</c>.</item>
/// <item>strings: <c>minLength</c>, <c>maxLength</c> (UTF-16 units, an escape counts as one); <c>format</c>
///   <c>date-time</c> (<c>yyyy-MM-ddTHH:mm:ss</c> with optional <c>Z</c>, days 01-28 so every month is valid),
///   <c>date</c>, <c>time</c> (<c>HH:mm:ss</c>) and <c>uuid</c> are enforced exactly (length bounds then ignored);
///   other formats and <c>pattern</c> are ignored.</item>
/// <item>numbers: <c>integer</c> is <c>-?(0|[1-9][0-9]*)</c>; <c>number</c> adds fraction and exponent. Digit counts
///   are capped by <see cref="JsonConstraintOptions"/>. <c>minimum</c>/<c>maximum</c>/<c>multipleOf</c> are ignored.</item>
/// <item><c>enum</c> and <c>const</c> of any JSON values: the value must be one of the canonical compact texts
///   (strings escaped as for keys; numbers exactly as written in the schema). When <c>type</c> is also present,
///   enum values of other types are dropped.</item>
/// <item><c>anyOf</c> / <c>oneOf</c>: merged into one node: the union of the alternatives' types and enum values;
///   the string, array and object constraints are taken from the first alternative allowing that type
///   (so alternatives that differ only by type, e.g. nullable or <c>string | integer</c>, are exact; several object
///   alternatives are narrowed to the first). <c>allOf</c> with one element is followed; otherwise ignored.</item>
/// <item><c>$ref</c> to a JSON pointer in the same document (<c>#/$defs/X</c>, <c>#/properties/next</c>), recursive
///   references included. Sibling keywords of <c>$ref</c> are ignored. External references are treated as any value.</item>
/// <item>Ignored: <c>$schema</c>, <c>title</c>, <c>description</c>, <c>default</c>, other <c>format</c>s, <c>pattern</c>,
///   <c>patternProperties</c>, <c>prefixItems</c>, <c>uniqueItems</c>, <c>contains</c>, <c>not</c>, <c>if</c>/<c>then</c>/<c>else</c>,
///   <c>dependentRequired</c>, <c>minProperties</c>/<c>maxProperties</c>, number ranges.</item>
/// </list>
/// <para>This covers what <c>AIJsonUtilities.CreateJsonSchema</c> emits for records, classes, collections, nullable
/// members and string enums, including the <c>{"data": ...}</c> wrapper used by <c>GetResponseAsync&lt;T&gt;</c> for
/// non-object <c>T</c>. Token texts are compared as decoded strings: a byte-fallback token decoding to U+FFFD is only
/// allowed inside strings.</para>
/// </remarks>
internal sealed class JsonConstraint
{
    private readonly JsonConstraintVocabulary _vocab;
    private readonly JsonSchemaNode _root;
    private readonly JsonLimits _limits;
    private readonly StringBuilder _text = new();
    private JsonState _state;
    private bool _finished;

    /// <summary>Creates a constraint over a shared vocabulary.</summary>
    public JsonConstraint(JsonConstraintVocabulary vocabulary, JsonElement? schema = null, JsonConstraintOptions? options = null)
    {
        _vocab = vocabulary ?? throw new ArgumentNullException(nameof(vocabulary));
        options ??= JsonConstraintOptions.Default;
        options.Validate();
        _limits = new JsonLimits(options);
        _root = JsonSchemaCompiler.Compile(schema);
        _state = JsonState.Start(_root);
    }

    /// <summary>Creates a constraint, building the vocabulary trie (prefer sharing a <see cref="JsonConstraintVocabulary"/>).</summary>
    public JsonConstraint(IReadOnlyList<string?> tokenTexts, IEnumerable<int> eosTokenIds, JsonElement? schema = null, JsonConstraintOptions? options = null)
        : this(new JsonConstraintVocabulary(tokenTexts, eosTokenIds), schema, options)
    {
    }

    /// <summary>Factory equivalent of the constructor.</summary>
    public static JsonConstraint Create(IReadOnlyList<string?> tokenTexts, IEnumerable<int> eosTokenIds, JsonElement? schema = null, JsonConstraintOptions? options = null)
        => new(tokenTexts, eosTokenIds, schema, options);

    /// <summary>The vocabulary (shareable with other constraints).</summary>
    public JsonConstraintVocabulary Vocabulary => _vocab;

    /// <summary>Mask length: the vocabulary size.</summary>
    public int VocabularySize => _vocab.Count;

    /// <summary>The text accepted so far is a complete JSON value, so EOS is allowed.</summary>
    public bool IsComplete => _finished || JsonMachine.IsComplete(in _state);

    /// <summary>The value is closed (or EOS was accepted): nothing but EOS can follow; generation should stop.</summary>
    public bool IsClosed => _finished || _state.Mode == JsonMode.Done;

    /// <summary>An EOS token has been accepted.</summary>
    public bool IsFinished => _finished;

    /// <summary>The text accepted so far (EOS excluded).</summary>
    public string Text => _text.ToString();

    /// <summary>A recogniser snapshot of the current state.</summary>
    public JsonRecognizer Recognizer => new(_state, _limits);

    /// <summary>Starts over (same vocabulary and schema).</summary>
    public void Reset()
    {
        _state = JsonState.Start(_root);
        _text.Clear();
        _finished = false;
    }

    /// <summary>Fills <paramref name="allowed"/> (length ≥ <see cref="VocabularySize"/>) with true for each token id that may come next.</summary>
    public void ComputeAllowedMask(Span<bool> allowed)
    {
        if (allowed.Length < _vocab.Count) throw new ArgumentException($"Mask must hold {_vocab.Count} entries.", nameof(allowed));
        allowed.Clear();
        if (IsComplete)
            foreach (var id in _vocab.EosIds) allowed[id] = true;
        if (IsClosed) return;
        Walk(0, ref _state, allowed);
    }

    /// <summary>Allocating convenience over <see cref="ComputeAllowedMask"/>.</summary>
    public bool[] GetAllowedMask()
    {
        var mask = new bool[_vocab.Count];
        ComputeAllowedMask(mask);
        return mask;
    }

    /// <summary>Whether <paramref name="tokenId"/> may come next (checks one token without computing the mask).</summary>
    public bool IsAllowed(int tokenId)
    {
        if ((uint)tokenId >= (uint)_vocab.Count) return false;
        if (Array.IndexOf(_vocab.EosIds, tokenId) >= 0) return IsComplete;
        if (IsClosed) return false;
        var text = _vocab.TokenTexts[tokenId];
        if (string.IsNullOrEmpty(text)) return false;
        var s = _state;
        foreach (var c in text)
            if (!JsonMachine.Step(ref s, c, _limits)) return false;
        return true;
    }

    /// <summary>Advances by <paramref name="tokenId"/> if allowed; returns false (state unchanged) otherwise.</summary>
    public bool TryAccept(int tokenId)
    {
        if ((uint)tokenId >= (uint)_vocab.Count) return false;
        if (Array.IndexOf(_vocab.EosIds, tokenId) >= 0)
        {
            if (!IsComplete) return false;
            _finished = true;
            return true;
        }
        if (IsClosed) return false;
        var text = _vocab.TokenTexts[tokenId];
        if (string.IsNullOrEmpty(text)) return false;
        var s = _state;
        foreach (var c in text)
            if (!JsonMachine.Step(ref s, c, _limits)) return false;
        _state = s;
        _text.Append(text);
        return true;
    }

    /// <summary>Advances by <paramref name="tokenId"/>; throws if the token is not allowed in the current state.</summary>
    public void Accept(int tokenId)
    {
        if (!TryAccept(tokenId))
            throw new InvalidOperationException($"Token {tokenId} ({_vocab.TokenTexts.ElementAtOrDefault(tokenId)}) is not allowed after \"{Text}\".");
    }

    private void Walk(int node, ref JsonState state, Span<bool> allowed)
    {
        var trie = _vocab.Trie;
        var start = trie.ChildStart[node];
        var end = start + trie.ChildCount[node];
        var chars = trie.Chars;
        for (var i = start; i < end; i++)
        {
            var next = state;
            if (!JsonMachine.Step(ref next, chars[i], _limits)) continue;
            var ts = trie.TokenStart[i];
            var te = ts + trie.TokenCount[i];
            for (var t = ts; t < te; t++) allowed[trie.TokenIds[t]] = true;
            if (trie.ChildCount[i] > 0) Walk(i, ref next, allowed);
        }
    }
}
