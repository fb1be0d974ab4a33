namespace LayerSkip.Extensions.AI.DependencyInjection;

/// <summary>One engine registered in DI: its service key (null for the unkeyed one) and the name of its options.</summary>
internal sealed record LayerSkipEngineRegistration(object? ServiceKey, string OptionsName);
