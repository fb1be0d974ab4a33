namespace LayerSkip.Engine.Model;

/// <summary>
/// A projection named by the input it multiplies (q/k/v share one input and are one fused matrix, as are gate/up);
/// see <see cref="InputGrams"/>.
/// </summary>
internal enum ProjectionKind
{
    /// <summary>q/k/v: the input-normed hidden state.</summary>
    Qkv,
    /// <summary>o_proj: the attention output.</summary>
    Output,
    /// <summary>gate/up: the post-attention-normed hidden state.</summary>
    GateUp,
    /// <summary>down: act(gate) · up.</summary>
    Down,
    /// <summary>The LM head: the final-normed hidden state.</summary>
    LmHead,
}
