namespace LayerSkip.Engine.Tokenization;

/// <summary>How vocabulary strings turn back into text.</summary>
internal enum TokenTextStyle
{
    /// <summary>GPT-2 byte-level BPE (Llama-3, Qwen, SmolLM): each vocabulary character stands for one byte.</summary>
    ByteLevel,

    /// <summary>
    /// SentencePiece conventions (LLaMA-2, TinyLlama, llama2.c): '▁' is a space, &lt;0xNN&gt; pieces are raw bytes, and the
    /// dummy-prefix space at the very start of the decoded text is removed.
    /// </summary>
    SentencePiece,
}
