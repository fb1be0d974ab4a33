namespace LayerSkip.Engine.Generation;

/// <summary>
/// Restricts which tokens one sequence may choose next (e.g. only tokens that keep the output valid JSON) and
/// learns which token was chosen. Called on the engine thread, once per step, for its own sequence only; the
/// sampler turns the allowed set into a mask over the logits on the device.
/// </summary>
public interface ILogitsProcessor
{
    /// <summary>
    /// Marks the tokens that may come next: <paramref name="allowed"/> holds one entry per id of the model's
    /// vocabulary, all false on entry.
    /// </summary>
    void ComputeAllowed(Span<bool> allowed);

    void Accept(int tokenId);
}
