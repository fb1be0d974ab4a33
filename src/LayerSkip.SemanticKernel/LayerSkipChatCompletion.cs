using LayerSkip.Extensions.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LayerSkip.SemanticKernel;

/// <summary>Builds the Semantic Kernel <see cref="IChatCompletionService"/> over a LayerSkip (or any) <see cref="IChatClient"/>.</summary>
public static class LayerSkipChatCompletion
{
    /// <summary>
    /// <paramref name="chatClient"/> with execution-setting mapping (<see cref="LayerSkipExecutionSettingsChatClient"/>)
    /// and, unless the pipeline already invokes functions, kernel function invocation (so
    /// <c>FunctionChoiceBehavior.Auto()</c> calls kernel plugins and runs SK's auto-invocation filters), as an
    /// <see cref="IChatCompletionService"/>. The service never disposes <paramref name="chatClient"/>.
    /// </summary>
    public static IChatCompletionService Create(IChatClient chatClient, IServiceProvider? services = null)
    {
        ArgumentNullException.ThrowIfNull(chatClient);
        var builder = new ChatClientBuilder(new LayerSkipExecutionSettingsChatClient(new NonDisposingChatClient(chatClient)));
        if (chatClient.GetService<FunctionInvokingChatClient>() is null)
            builder.UseKernelFunctionInvocation(services?.GetService<ILoggerFactory>());
        return builder.Build(services).AsChatCompletionService(services);
    }

    /// <summary>Keeps a wrapped client alive when the SK pipeline around it is disposed.</summary>
    private sealed class NonDisposingChatClient(IChatClient inner) : DelegatingChatClient(inner)
    {
        protected override void Dispose(bool disposing) { }
    }
}
