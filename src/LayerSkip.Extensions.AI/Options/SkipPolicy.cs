namespace LayerSkip.Extensions.AI;

/// <summary>Which layers a request skips when decoding. All but <see cref="None"/> and <see cref="Explicit"/> keep floor(L/r) layers.</summary>
public enum SkipPolicy
{
    /// <summary>Every layer runs (no skipping).</summary>
    None,
    /// <summary>Unified Layer Skipping (Liu, Meng, Zhou 2024): first and last layer, the rest evenly spaced. The default.</summary>
    Unified,
    /// <summary>The kept layers at rounded evenly spaced positions from the first to the last.</summary>
    UnifiedEven,
    /// <summary>The bottom layers run, the top ones are skipped.</summary>
    EarlyExit,
    /// <summary>The top layers run, the bottom ones are skipped.</summary>
    SkipBottom,
    /// <summary>Layers drawn at random with a seed (a baseline).</summary>
    Random,
    /// <summary>The caller's list of layer indices (<c>layerskip.layers</c>).</summary>
    Explicit,
    /// <summary>The layers that change the hidden state most on calibration text, plus the first and last.</summary>
    Calibrated,
    /// <summary>Token-level routing: the model's trained routers (router.safetensors) decide per token which layers run.</summary>
    Router,
}
