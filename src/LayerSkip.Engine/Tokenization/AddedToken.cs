namespace LayerSkip.Engine.Tokenization;

/// <summary>
/// A token matched verbatim in input text before the model runs (Hugging Face "added_tokens"): chat markers such as
/// <c>&lt;|im_start|&gt;</c>, BOS/EOS, tool-call tags. <see cref="Special"/> ones are dropped by
/// <c>Decode(..., skipSpecialTokens: true)</c>; <see cref="LStrip"/>/<see cref="RStrip"/> swallow whitespace beside a match.
/// </summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false);
