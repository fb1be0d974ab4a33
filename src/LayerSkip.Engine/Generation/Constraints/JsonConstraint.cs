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
/// Token-level constrained decoding: for the current state, which token ids keep the output a prefix of an
/// <see cref="OutputGrammar"/> (valid JSON, optionally under a JSON Schema, possibly wrapped as a tool call), so
/// <c>ResponseFormat</c> Json / JsonSchema and forced tool calls always yield parsable output. With a token budget,
/// the output also always finishes within it (see <see cref="BudgetForcedClose"/>).
/// </summary>
/// <remarks>
/// <para><b>Use:</b> before sampling each token call <see cref="ComputeAllowedMask"/> and drop disallowed logits;
/// after sampling call <see cref="Accept"/>. Stop when an EOS id is accepted or <see cref="IsClosed"/> (if the
/// model has no EOS id in the vocabulary given, closing the value is the only stop signal). A token may carry
/// whitespace after the end of the value; once the value is closed only EOS is allowed.
/// A top-level number is complete but may still grow, so then both EOS and more digits are allowed.</para>
/// <para><b>Token budget.</b> Given the most tokens the response may take, the constraint computes the shortest text
/// that completes the output from the current state (closing strings, writing required properties and minimum items,
/// closing arrays, objects and the suffix) and counts its tokens by greedy longest match over the vocabulary. Once
/// the budget comes near that count, only tokens after which the completion still fits are allowed, so the output is
/// closed in time. If the budget is smaller than the shortest complete output, the output takes what that needs.</para>
/// <para><b>Supported JSON Schema subset</b> (other keywords are ignored; an unknown <c>type</c>, an empty <c>enum</c>,
/// an unresolvable or self-referring <c>$ref</c> and the <c>false</c> schema throw <see cref="ArgumentException"/>).
/// Strict by default: an object schema without <c>additionalProperties</c> allows only its listed properties
/// (<c>"properties": {}</c> means exactly <c>{}</c>); <see cref="JsonConstraintOptions.Strict"/> = false keeps such
/// objects open:</para>
/// <list type="bullet">
/// <item><c>type</c>: <c>object</c>, <c>array</c>, <c>string</c>, <c>number</c>, <c>integer</c>, <c>boolean</c>,
///   <c>null</c>, or an array of them (nullable: <c>["string","null"]</c>). No <c>type</c> = any type.</item>
/// <item>objects: <c>properties</c> are produced in schema order, each at most once; <c>required</c> ones cannot be
///   skipped and the object cannot close before them. When the object is closed (strict, or <c>properties</c>
///   non-empty, or <c>additionalProperties</c> <c>false</c>), only the listed keys may appear (matched character by
///   character); otherwise keys are free strings (which may repeat) whose values follow an
///   <c>additionalProperties</c> schema (or anything).
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
///   (so alternatives that differ only by type, e.g. nullable or <c>string | integer</c>, are exact). Several object
///   alternatives whose first property is required and holds distinct string constants form a tagged union: the
///   constant written picks the alternative for the rest of the object. Other object alternatives are narrowed to the first. <c>allOf</c> with one element is followed; otherwise ignored.</item>
/// <item><c>$ref</c> to a JSON pointer in the same document (<c>#/$defs/X</c>, <c>#/properties/next</c>), recursive
///   references included. Sibling keywords of <c>$ref</c> are ignored.</item>
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
    private readonly OutputGrammar _grammar;
    private readonly JsonLimits _limits;
    private readonly StringBuilder _text = new();
    private readonly int? _budget;
    private readonly int _window;
    private GrammarState _state;
    private int _accepted;
    private bool _finished;

    /// <summary>Creates a JSON constraint over a shared vocabulary.</summary>
    public JsonConstraint(JsonConstraintVocabulary vocabulary, JsonElement? schema = null, JsonConstraintOptions? options = null)
        : this(vocabulary, OutputGrammar.Json(schema, (options ?? JsonConstraintOptions.Default).Strict), options)
    {
    }

    /// <summary>Creates a constraint for <paramref name="grammar"/>; with <paramref name="tokenBudget"/>, the output
    /// closes within that many tokens (EOS not counted).</summary>
    public JsonConstraint(JsonConstraintVocabulary vocabulary, OutputGrammar grammar, JsonConstraintOptions? options = null, int? tokenBudget = null)
    {
        _vocab = vocabulary ?? throw new ArgumentNullException(nameof(vocabulary));
        _grammar = grammar ?? throw new ArgumentNullException(nameof(grammar));
        options ??= JsonConstraintOptions.Default;
        options.Validate();
        _limits = new JsonLimits(options);
        _state = GrammarState.Start;
        if (tokenBudget is { } budget)
        {
            if (budget < 1) throw new ArgumentOutOfRangeException(nameof(tokenBudget), budget, "The token budget must be at least 1.");
            var needed = CompletionCost(_state);
            if (needed >= int.MaxValue / 2)
                throw new ArgumentException("The vocabulary cannot spell the shortest output of this grammar, so no token budget can be honoured.", nameof(grammar));
            _budget = Math.Max(budget, needed); // never below the shortest complete output
            // One token can open at most a few values, each adding at most its shortest text to what must be written.
            var longest = grammar.Branches.Max(b => b.Prefix.Length + b.Suffix.Length + LongestMinimal(b.Root));
            _window = 4 * (longest + 4);
        }
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

    /// <summary>The text accepted so far is a complete output, so EOS is allowed.</summary>
    public bool IsComplete => _finished || GrammarMachine.IsComplete(_grammar, in _state);

    /// <summary>The output is closed (or EOS was accepted): nothing but EOS can follow; generation should stop.</summary>
    public bool IsClosed => _finished || GrammarMachine.IsClosed(_grammar, in _state);

    /// <summary>An EOS token has been accepted.</summary>
    public bool IsFinished => _finished;

    /// <summary>The budget ruled out tokens the grammar allowed: the output was closed early to fit.</summary>
    public bool BudgetForcedClose { get; private set; }

    /// <summary>The token budget in force (at least the shortest complete output), or null.</summary>
    public int? TokenBudget => _budget;

    /// <summary>The text accepted so far (EOS excluded).</summary>
    public string Text => _text.ToString();

    /// <summary>A recogniser snapshot of the current JSON state.</summary>
    public JsonRecognizer Recognizer => new(_state.Json, _limits);

    /// <summary>Tokens needed, by greedy longest match, to write the shortest completion from the current state.</summary>
    public int TokensToClose => CompletionCost(_state);

    /// <summary>Starts over (same vocabulary and grammar).</summary>
    public void Reset()
    {
        _state = GrammarState.Start;
        _text.Clear();
        _finished = false;
        _accepted = 0;
        BudgetForcedClose = false;
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
        if (_budget is { } budget) ApplyBudget(allowed, budget - _accepted);
    }

    /// <summary>Allocating convenience over <see cref="ComputeAllowedMask"/>.</summary>
    public bool[] GetAllowedMask()
    {
        var mask = new bool[_vocab.Count];
        ComputeAllowedMask(mask);
        return mask;
    }

    /// <summary>Whether <paramref name="tokenId"/> may come next by the grammar (the budget is not checked).</summary>
    public bool IsAllowed(int tokenId)
    {
        if ((uint)tokenId >= (uint)_vocab.Count) return false;
        if (Array.IndexOf(_vocab.EosIds, tokenId) >= 0) return IsComplete;
        if (IsClosed) return false;
        return TryStep(_state, tokenId, out _);
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
        if (IsClosed || !TryStep(_state, tokenId, out var next)) return false;
        _state = next;
        _text.Append(_vocab.TokenTexts[tokenId]);
        _accepted++;
        return true;
    }

    /// <summary>Advances by <paramref name="tokenId"/>; throws if the token is not allowed in the current state.</summary>
    public void Accept(int tokenId)
    {
        if (!TryAccept(tokenId))
            throw new InvalidOperationException($"Token {tokenId} ({_vocab.TokenTexts.ElementAtOrDefault(tokenId)}) is not allowed after \"{Text}\".");
    }

    private bool TryStep(GrammarState state, int tokenId, out GrammarState next)
    {
        next = state;
        var text = _vocab.TokenTexts[tokenId];
        if (string.IsNullOrEmpty(text)) return false;
        foreach (var c in text)
            if (!GrammarMachine.Step(_grammar, ref next, c, _limits)) return false;
        return true;
    }

    /// <summary>
    /// Near the end of the budget, keeps only tokens after which the shortest completion still fits in what is left.
    /// The first token of the current shortest completion always qualifies, so the output can always close.
    /// </summary>
    private void ApplyBudget(Span<bool> allowed, int remaining)
    {
        var cost = CompletionCost(_state);
        if (cost + _window < remaining) return;
        var eos = _vocab.EosIds;
        var kept = false;
        for (var id = 0; id < _vocab.Count; id++)
        {
            if (!allowed[id] || Array.IndexOf(eos, id) >= 0) continue;
            TryStep(_state, id, out var next);
            var after = SameStringRun(in _state, in next) ? cost : CompletionCost(next);
            if (after <= remaining - 1) { kept = true; continue; }
            allowed[id] = false;
            BudgetForcedClose = true;
        }
        if (!kept && !IsComplete && FirstClosingToken(_state) is { } closing) allowed[closing] = true;
    }

    /// <summary>Both states are inside the same string (a value past its minimum length, or a free key) with no escape
    /// pending: the shortest completion is the same (a cheap answer for most of a large vocabulary).</summary>
    private static bool SameStringRun(in GrammarState a, in GrammarState b) =>
        a.Part == GrammarState.InJson && b.Part == GrammarState.InJson && a.Branch == b.Branch
        && a.Json.Mode == b.Json.Mode && a.Json.Sub == 0 && b.Json.Sub == 0
        && ReferenceEquals(a.Json.Value, b.Json.Value) && ReferenceEquals(a.Json.Parent, b.Json.Parent)
        && ReferenceEquals(a.Json.Container, b.Json.Container) && a.Json.Count == b.Json.Count
        && (a.Json.Mode == JsonMode.String && a.Json.Len >= a.Json.Value!.MinLength || a.Json.Mode == JsonMode.KeyString);

    private int CompletionCost(GrammarState state)
    {
        if (GrammarMachine.IsComplete(_grammar, in state)) return 0;
        var best = int.MaxValue;
        foreach (var text in GrammarMachine.ShortestCompletions(_grammar, state, _limits))
            best = Math.Min(best, _vocab.Trie.GreedyTokenCount(text));
        return best;
    }

    private int? FirstClosingToken(GrammarState state)
    {
        string? best = null;
        foreach (var text in GrammarMachine.ShortestCompletions(_grammar, state, _limits))
            if (best is null || _vocab.Trie.GreedyTokenCount(text) < _vocab.Trie.GreedyTokenCount(best)) best = text;
        return best is { Length: > 0 } && _vocab.Trie.LongestTokenAt(best, 0).TokenId is var id && id >= 0 ? id : null;
    }

    private static int LongestMinimal(JsonSchemaNode root)
    {
        var longest = 0;
        var seen = new HashSet<JsonSchemaNode>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<JsonSchemaNode>([root]);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (n is null || !seen.Add(n)) continue;
            longest = Math.Max(longest, n.MinimalText?.Length ?? 0);
            if (n.Items is not null) stack.Push(n.Items);
            if (n.Additional is not null) stack.Push(n.Additional);
            foreach (var p in n.PropertySchemas) stack.Push(p);
            if (n.Variants is not null) foreach (var v in n.Variants.Values) stack.Push(v);
        }
        return longest;
    }

    private void Walk(int node, ref GrammarState state, Span<bool> allowed)
    {
        var trie = _vocab.Trie;
        var start = trie.ChildStart[node];
        var end = start + trie.ChildCount[node];
        var chars = trie.Chars;
        for (var i = start; i < end; i++)
        {
            var next = state;
            if (!GrammarMachine.Step(_grammar, ref next, chars[i], _limits)) continue;
            var ts = trie.TokenStart[i];
            var te = ts + trie.TokenCount[i];
            for (var t = ts; t < te; t++) allowed[trie.TokenIds[t]] = true;
            if (trie.ChildCount[i] > 0) Walk(i, ref next, allowed);
        }
    }
}
