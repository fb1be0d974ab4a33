using System.Text;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Templates;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Prompting;

/// <summary>
/// Renders a conversation into prompt tokens with the model's own chat template, as Hugging Face's
/// apply_chat_template does (the template prints any BOS itself; no special tokens are added on top).
/// Models without a template (base models such as stories260K) get the documented default:
/// a lone user message (with an optional system text before it) is the prompt itself, so a base model
/// continues it; longer conversations become a "User:/Assistant:" transcript ending in "Assistant:".
/// Tools reach every model: templates that render <c>tools</c> get them as Hugging Face defines; models without a
/// template, or whose template ignores tools, get them described in the system text (<see cref="ToolPrompt"/>).
/// </summary>
internal sealed class PromptFormatter
{
    private readonly ChatTemplate? _template;
    private readonly ChatTemplateSource _source;
    private readonly TextTokenizer _tokenizer;
    private readonly Lazy<bool> _templateShowsTools;

    public PromptFormatter(ChatTemplateSource source, TextTokenizer tokenizer)
    {
        _source = source;
        _tokenizer = tokenizer;
        _template = source.Template is null ? null : Parse(source);
        _templateShowsTools = new(ProbeTemplateShowsTools);
    }

    /// <summary>Parses the model's template; a template that does not parse makes the folder unusable, naming its file.</summary>
    private static ChatTemplate Parse(ChatTemplateSource source)
    {
        try
        {
            return ChatTemplate.Parse(source.Template!);
        }
        catch (TemplateException e)
        {
            var file = source.TemplatePath ?? "tokenizer_config.json";
            throw new ModelLoadException($"The chat template in {Path.GetFileName(file)} cannot be parsed: {e.Message}", file, e);
        }
    }

    /// <summary>Whether the chat template prints the tools it is given (rendered once with and without a probe tool).</summary>
    public bool TemplateShowsTools => _template is not null && _templateShowsTools.Value;

    public bool HasTemplate => _template is not null;
    public string? TemplateText => _source.Template;

    public string Render(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var list = messages.ToList();
        ConversationCheck.Validate(list, options?.Instructions);
        var instructions = options?.Instructions;
        var functions = ToolPrompt.Functions(options);
        if (functions.Count > 0 && !TemplateShowsTools)
            instructions = string.IsNullOrWhiteSpace(instructions) ? ToolPrompt.Describe(functions) : instructions + "\n\n" + ToolPrompt.Describe(functions);
        if (_template is null) return DefaultFormat(list, instructions);
        var context = new Dictionary<string, object?>
        {
            ["messages"] = MessageConverter.Messages(list, instructions),
            ["add_generation_prompt"] = true,
            ["bos_token"] = _source.BosToken ?? "",
            ["eos_token"] = _source.EosToken ?? "",
        };
        if (MessageConverter.Tools(options) is { } tools) context["tools"] = tools;
        if (options?.AdditionalProperties?.TryGetValue(LayerSkipPropertyNames.ChatTemplateKwargs, out var extra) == true &&
            extra is IEnumerable<KeyValuePair<string, object?>> kwargs)
            foreach (var (k, v) in kwargs) context[k] = v;
        return _template.Render(context);
    }

    private bool ProbeTemplateShowsTools()
    {
        const string probe = "layerskip_probe_function";
        var messages = new List<object?> { new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi" } };
        var tool = new Dictionary<string, object?>
        {
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?> { ["name"] = probe, ["description"] = probe, ["parameters"] = new Dictionary<string, object?> { ["type"] = "object" } },
        };
        try
        {
            var context = new Dictionary<string, object?>
            {
                ["messages"] = messages, ["add_generation_prompt"] = true, ["tools"] = new List<object?> { tool },
                ["bos_token"] = _source.BosToken ?? "", ["eos_token"] = _source.EosToken ?? "",
            };
            return _template!.Render(context).Contains(probe, StringComparison.Ordinal);
        }
        catch (Exception)
        {
            return true; // the template could not render the probe: leave tools to the template, as before
        }
    }

    public IReadOnlyList<int> Tokenize(string prompt) =>
        _tokenizer.Encode(prompt, addBos: _template is null && _tokenizer.AddBosByDefault);

    private static string DefaultFormat(List<ChatMessage> messages, string? instructions)
    {
        var system = string.Join("\n\n", new[] { instructions }
            .Concat(messages.Where(m => m.Role == ChatRole.System).Select(m => m.Text))
            .Where(s => !string.IsNullOrWhiteSpace(s)));
        var turns = messages.Where(m => m.Role != ChatRole.System).ToList();
        if (turns.Count == 1 && turns[0].Role == ChatRole.User)
            return system.Length == 0 ? turns[0].Text : system + "\n\n" + turns[0].Text;
        var sb = new StringBuilder();
        if (system.Length > 0) sb.Append(system).Append("\n\n");
        foreach (var m in turns)
        {
            var who = m.Role == ChatRole.Assistant ? "Assistant" : m.Role == ChatRole.Tool ? "Tool" : "User";
            var text = m.Text;
            if (m.Role == ChatRole.Tool || m.Contents.OfType<FunctionResultContent>().Any())
                text = string.Join("\n", m.Contents.OfType<FunctionResultContent>().Select(r => r.Result?.ToString()));
            var calls = m.Contents.OfType<FunctionCallContent>().Select(ToolPrompt.Call).ToList();
            if (calls.Count > 0) text = string.Join("\n", calls.Prepend(text).Where(t => t.Length > 0));
            sb.Append(who).Append(": ").Append(text).Append('\n');
        }
        sb.Append("Assistant:");
        return sb.ToString();
    }
}
