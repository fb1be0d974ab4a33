using System.Text.Json;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Prompting;

/// <summary>
/// Turns Microsoft.Extensions.AI messages and tools into the dictionaries Hugging Face chat templates expect:
/// {role, content, tool_calls: [{type, id, function: {name, arguments}}]}, tool results as role "tool" turns,
/// tools as {type: "function", function: {name, description, parameters}}.
/// </summary>
internal static class MessageConverter
{
    public static List<object?> Messages(IEnumerable<ChatMessage> messages, string? instructions)
    {
        var list = new List<object?>();
        if (!string.IsNullOrWhiteSpace(instructions))
            list.Add(new Dictionary<string, object?> { ["role"] = "system", ["content"] = instructions });
        foreach (var m in messages)
        {
            var results = m.Contents.OfType<FunctionResultContent>().ToList();
            foreach (var r in results)
                list.Add(new Dictionary<string, object?>
                {
                    ["role"] = "tool",
                    ["tool_call_id"] = r.CallId,
                    ["content"] = ResultText(r.Result),
                });
            var calls = m.Contents.OfType<FunctionCallContent>().ToList();
            var text = string.Concat(m.Contents.OfType<TextContent>().Select(t => t.Text));
            if (results.Count > 0 && calls.Count == 0 && text.Length == 0) continue;
            var role = m.Role.Value;
            if (role == ChatRole.Tool.Value && results.Count > 0) continue;
            var message = new Dictionary<string, object?> { ["role"] = role, ["content"] = text };
            if (calls.Count > 0)
                message["tool_calls"] = calls.Select(c => (object?)new Dictionary<string, object?>
                {
                    ["type"] = "function",
                    ["id"] = c.CallId,
                    ["function"] = new Dictionary<string, object?>
                    {
                        ["name"] = c.Name,
                        ["arguments"] = c.Arguments is null ? new Dictionary<string, object?>() : new Dictionary<string, object?>(c.Arguments),
                    },
                }).ToList();
            list.Add(message);
        }
        return list;
    }

    public static List<object?>? Tools(ChatOptions? options)
    {
        var functions = ToolPrompt.Functions(options);
        return functions.Count == 0 ? null : functions.Select(f => (object?)new Dictionary<string, object?>
        {
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?>
            {
                ["name"] = f.Name,
                ["description"] = f.Description,
                ["parameters"] = f.JsonSchema,
            },
        }).ToList();
    }

    private static string ResultText(object? result) => result switch
    {
        null => "",
        string s => s,
        JsonElement e when e.ValueKind == JsonValueKind.String => e.GetString() ?? "",
        JsonElement e => e.GetRawText(),
        _ => JsonSerializer.Serialize(result, AIJsonUtilities.DefaultOptions),
    };
}
