using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Prompting;

/// <summary>
/// The tools section given to models whose chat template cannot show tools (no template, or a template that ignores
/// <c>tools</c>), in the format documented in docs/tools.md: a system text listing each function with its JSON
/// Schema and asking for calls as <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>, the
/// syntax the client parses back.
/// </summary>
internal static class ToolPrompt
{
    public static string Describe(IEnumerable<AIFunctionDeclaration> functions)
    {
        var sb = new StringBuilder();
        sb.Append("# Tools\n\nYou may call one or more of these functions. To call a function, write:\n")
          .Append("<tool_call>\n{\"name\": \"<function name>\", \"arguments\": {<arguments as JSON>}}\n</tool_call>\n\nFunctions:\n");
        foreach (var f in functions)
        {
            sb.Append("- ").Append(f.Name);
            if (!string.IsNullOrWhiteSpace(f.Description)) sb.Append(": ").Append(f.Description.Trim());
            sb.Append("\n  parameters: ").Append(f.JsonSchema.GetRawText()).Append('\n');
        }
        return sb.ToString().TrimEnd();
    }

    /// <summary>A past call as the model is asked to write it.</summary>
    public static string Call(FunctionCallContent call) =>
        "<tool_call>\n" + JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["name"] = call.Name,
            ["arguments"] = call.Arguments ?? new Dictionary<string, object?>(),
        }, AIJsonUtilities.DefaultOptions) + "\n</tool_call>";

    /// <summary>The functions the prompt should describe for these options (none when tools are off).</summary>
    public static List<AIFunctionDeclaration> Functions(ChatOptions? options)
    {
        if (options?.Tools is not { Count: > 0 } tools || options.ToolMode is NoneChatToolMode) return [];
        var functions = tools.OfType<AIFunctionDeclaration>().ToList();
        if (options.ToolMode is RequiredChatToolMode { RequiredFunctionName: { } only })
            functions = functions.Where(f => f.Name == only).ToList();
        return functions;
    }
}
