namespace LayerSkip.Engine.Generation;

/// <summary>
/// Adjusts one sequence's next-token logits before sampling (e.g. masks tokens that would break JSON) and
/// learns which token was chosen. Called on the engine thread, once per step, for its own sequence only.
/// </summary>
public interface ILogitsProcessor
{
    void Process(Span<float> logits);
    void Accept(int tokenId);
}
