using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// The tokenizer of a Hugging Face model folder, on Microsoft.ML.Tokenizers: tokenizer.json (byte-level BPE such as
/// Llama-3/Qwen/SmolLM, or SentencePiece-style BPE with byte fallback such as llama2.c) or else tokenizer.model
/// (SentencePiece), with BOS/EOS and add_bos_token from tokenizer_config.json. Added/special tokens written in the
/// text (chat-template markers) encode to their single ids. Instances are immutable and thread-safe.
/// </summary>
public sealed class TextTokenizer
{
    private readonly TokenizerModel _model;
    private readonly AddedTokenSplitter _splitter;
    private readonly Dictionary<string, int> _addedTokenIds;
    private readonly bool[] _special;
    private readonly Lazy<TokenBytesTable> _tokenBytes;

    private TextTokenizer(TokenizerModel model, int? bosTokenId, int? eosTokenId, bool addBosByDefault)
    {
        _model = model;
        _splitter = new AddedTokenSplitter(model.AddedTokens);
        _addedTokenIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in model.AddedTokens) _addedTokenIds.TryAdd(token.Content, token.Id);

        int maxId = -1;
        foreach (var id in model.Vocabulary.Values) maxId = Math.Max(maxId, id);
        foreach (var token in model.AddedTokens) maxId = Math.Max(maxId, token.Id);
        VocabSize = maxId + 1;

        _special = new bool[VocabSize];
        foreach (var token in model.AddedTokens) if (token.Special) _special[token.Id] = true;
        if (bosTokenId is int bos && bos < VocabSize) _special[bos] = true;
        if (eosTokenId is int eos && eos < VocabSize) _special[eos] = true;

        BosTokenId = bosTokenId;
        EosTokenId = eosTokenId;
        AddBosByDefault = addBosByDefault;
        _tokenBytes = new Lazy<TokenBytesTable>(() => new TokenBytesTable(VocabSize, model.Vocabulary, model.AddedTokens, model.Style));
    }

    /// <summary>
    /// Loads the tokenizer of <paramref name="modelFolder"/>: tokenizer.json when present, else tokenizer.model.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">Neither tokenizer.json nor tokenizer.model is in the folder.</exception>
    /// <exception cref="InvalidDataException">A file is corrupt, or uses a model/normalizer/pre-tokenizer type this loader does not support; the message names the file.</exception>
    public static TextTokenizer Load(string modelFolder)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelFolder);
        if (!Directory.Exists(modelFolder))
            throw new DirectoryNotFoundException($"Model folder not found: {modelFolder}");

        var jsonPath = Path.Combine(modelFolder, "tokenizer.json");
        var sentencePiecePath = Path.Combine(modelFolder, "tokenizer.model");
        TokenizerModel model;
        if (File.Exists(jsonPath)) model = TokenizerJsonReader.Read(jsonPath);
        else if (File.Exists(sentencePiecePath)) model = SentencePieceModelReader.Read(sentencePiecePath);
        else throw new FileNotFoundException($"No tokenizer.json or tokenizer.model in {modelFolder}.", jsonPath);

        var config = TokenizerConfigFile.Read(modelFolder);
        var configPath = Path.Combine(modelFolder, "tokenizer_config.json");

        int? bos = config.HasBosToken ? ResolveConfigured(config.BosToken, "bos_token")
            : config.BosTokenId ?? Lookup(model, model.DefaultBosToken);
        int? eos = config.HasEosToken ? ResolveConfigured(config.EosToken, "eos_token")
            : config.EosTokenId ?? Lookup(model, model.DefaultEosToken);
        bool addBos = (config.AddBosToken ?? model.DefaultAddBos) && bos is not null;
        return new TextTokenizer(model, bos, eos, addBos);

        int? ResolveConfigured(string? token, string key)
        {
            if (token is null) return null;
            return Lookup(model, token)
                ?? throw new InvalidDataException($"{configPath}: {key} \"{token}\" is neither an added token nor in the vocabulary.");
        }
    }

    private static int? Lookup(TokenizerModel model, string? token)
    {
        if (token is null) return null;
        foreach (var added in model.AddedTokens) if (added.Content == token) return added.Id;
        return model.Vocabulary.TryGetValue(token, out var id) ? id : null;
    }

    /// <summary>Highest id + 1, added tokens included.</summary>
    public int VocabSize { get; }

    public int? BosTokenId { get; }

    public int? EosTokenId { get; }

    /// <summary>Whether the model expects BOS at the start of a prompt (tokenizer_config.json add_bos_token, else the file's own convention).</summary>
    public bool AddBosByDefault { get; }

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer (it does not split added tokens out of text; <see cref="Encode"/> does).</summary>
    public Tokenizer Inner => _model.Inner;

    /// <summary>Encodes text; added/special tokens written in it become their single ids. BOS is prepended when asked and the model has one.</summary>
    public IReadOnlyList<int> Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos && BosTokenId is int bos) ids.Add(bos);
        foreach (var piece in _splitter.Split(text))
        {
            if (piece.Token is { } token) ids.Add(token.Id);
            else ids.AddRange(_model.EncodePlainText(piece.Text!));
        }
        return ids;
    }

    /// <summary>Decodes ids to text (invalid UTF-8 becomes U+FFFD); SentencePiece models drop the dummy-prefix space at the start.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside [0, <see cref="VocabSize"/>).</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new ArrayBufferWriter<byte>();
        foreach (var id in ids)
        {
            if (skipSpecialTokens && IsSpecial(id)) continue;
            bytes.Write(TokenBytes(id).Span);
        }
        var span = bytes.WrittenSpan;
        if (StripsLeadingSpace && span.Length > 0 && span[0] == (byte)' ') span = span[1..];
        return Encoding.UTF8.GetString(span);
    }

    /// <summary>The id of an exact added/special token or vocabulary entry (vocabulary spelling, e.g. "Ġhello" or "▁the"), or null.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_addedTokenIds.TryGetValue(token, out var id)) return id;
        return _model.Vocabulary.TryGetValue(token, out id) ? id : null;
    }

    /// <summary>Whether the id is a special token (BOS, EOS, chat markers…) that <c>skipSpecialTokens</c> drops.</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_special.Length && _special[id];

    /// <summary>
    /// The UTF-8 bytes this token contributes when decoded mid-sequence (byte-level: the un-mapped bytes; SentencePiece:
    /// '▁' as space, &lt;0xNN&gt; as that byte); special tokens give their text. Precomputed on first use.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is outside [0, <see cref="VocabSize"/>).</exception>
    public ReadOnlyMemory<byte> TokenBytes(int id) => _tokenBytes.Value[id];

    /// <summary>A decoder for generated ids that only ever returns whole characters.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>True for SentencePiece models, whose decoded text loses one leading space (the dummy prefix).</summary>
    internal bool StripsLeadingSpace => _model.Style == TokenTextStyle.SentencePiece;
}
