using Microsoft.Extensions.Options;

namespace LayerSkip.Extensions.AI.DependencyInjection;

/// <summary>Runs <see cref="LayerSkipOptions.Validate"/> for every named options instance (checked at start-up by ValidateOnStart).</summary>
internal sealed class LayerSkipOptionsValidator : IValidateOptions<LayerSkipOptions>
{
    public ValidateOptionsResult Validate(string? name, LayerSkipOptions options)
    {
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            var message = e.ParamName is { } p ? e.Message.Replace($" (Parameter '{p}')", "") : e.Message;
            var which = string.IsNullOrEmpty(name) ? "" : $" (registration '{name}')";
            return ValidateOptionsResult.Fail(message + which);
        }
    }
}
