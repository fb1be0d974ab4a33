using System.Text.Json;
using LayerSkip.Templates;
using LayerSkip.Tests;

namespace LayerSkip.Templates.Tests;

/// <summary>
/// Renders real Hugging Face chat templates. Expected outputs were derived by hand from the template source
/// (no Python jinja2 on these machines); see the comments next to each expectation.
/// </summary>
public class RealChatTemplateTests
{
    private static readonly Lazy<ChatTemplate> Qwen3 = new(() => ChatTemplate.Parse(LoadChatTemplate("qwen3")!));

    private static string? LoadChatTemplate(string model)
    {
        var path = SharedData.Path("fixtures", "tokenizers", model, "tokenizer_config.json");
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.TryGetProperty("chat_template", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
    }

    private static Dictionary<string, object?> Msg(string role, string content, params object[] toolCalls)
    {
        var m = new Dictionary<string, object?> { ["role"] = role, ["content"] = content };
        if (toolCalls.Length > 0) m["tool_calls"] = toolCalls.ToList();
        return m;
    }

    private static Dictionary<string, object?> ToolCall(string name, Dictionary<string, object?> arguments) => new()
    {
        ["type"] = "function",
        ["function"] = new Dictionary<string, object?> { ["name"] = name, ["arguments"] = arguments },
    };

    /// <summary>Tool schemas arrive as JSON (as they do from AIFunction.JsonSchema), key order preserved.</summary>
    private static readonly JsonElement Tools = JsonDocument.Parse("""
        [
          {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
              "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
          {"type": "function", "function": {"name": "get_time", "description": "Get the local time in a timezone.",
            "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}
        ]
        """).RootElement;

    [Fact]
    public void Qwen3FixtureHasAChatTemplate()
    {
        var source = LoadChatTemplate("qwen3");
        Assert.NotNull(source);
        Assert.Contains("tool_call", source);
        Assert.Contains("enable_thinking", source);
    }

    [Fact]
    public void Qwen3_ToolsToolCallsToolResponsesAndGenerationPrompt()
    {
        var messages = new List<object?>
        {
            Msg("system", "You are a helpful assistant."),
            Msg("user", "What's the weather in Paris, and what time is it there?"),
            // reasoning inline in content: after the last user query, so the template keeps it in a <think> block
            Msg("assistant", "<think>\nThe user wants weather and time.\n</think>\n\nLet me check both.",
                ToolCall("get_weather", new() { ["city"] = "Paris", ["unit"] = "celsius" }),
                ToolCall("get_time", new() { ["timezone"] = "Europe/Paris" })),
            Msg("tool", "{\"temperature\": 18, \"condition\": \"sunny\"}"),
            Msg("tool", "14:05"),
        };

        var actual = Qwen3.Value.Render(new Dictionary<string, object?>
        {
            ["messages"] = messages,
            ["tools"] = Tools,
            ["add_generation_prompt"] = true,
        });

        // System block: system content + "\n\n" + the tools preamble; each tool is "\n" + tojson(tool) (json.dumps
        // default separators ", " and ": ", input key order). The assistant turn comes after the last real user
        // query (ns.last_query_index = 1), so its reasoning is kept; content is truthy so the first <tool_call>
        // is preceded by "\n". Consecutive tool messages share one "<|im_start|>user" block.
        var expected = """
            <|im_start|>system
            You are a helpful assistant.

            # Tools

            You may call one or more functions to assist with the user query.

            You are provided with function signatures within <tools></tools> XML tags:
            <tools>
            {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
            {"type": "function", "function": {"name": "get_time", "description": "Get the local time in a timezone.", "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}
            </tools>

            For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
            <tool_call>
            {"name": <function-name>, "arguments": <args-json-object>}
            </tool_call><|im_end|>
            <|im_start|>user
            What's the weather in Paris, and what time is it there?<|im_end|>
            <|im_start|>assistant
            <think>
            The user wants weather and time.
            </think>

            Let me check both.
            <tool_call>
            {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
            </tool_call>
            <tool_call>
            {"name": "get_time", "arguments": {"timezone": "Europe/Paris"}}
            </tool_call><|im_end|>
            <|im_start|>user
            <tool_response>
            {"temperature": 18, "condition": "sunny"}
            </tool_response>
            <tool_response>
            14:05
            </tool_response><|im_end|>
            <|im_start|>assistant

            """;
        Assert.Equal(Normalize(expected), actual);
    }

    [Fact]
    public void Qwen3_EmptyAssistantContentAndStringArguments()
    {
        var call = new Dictionary<string, object?>
        {
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?> { ["name"] = "get_time", ["arguments"] = "{\"timezone\": \"UTC\"}" },
        };
        var messages = new List<object?>
        {
            Msg("user", "Time?"),
            Msg("assistant", "", call),
            Msg("tool", "12:00"),
        };
        var actual = Qwen3.Value.Render(new Dictionary<string, object?>
        {
            ["messages"] = messages,
            ["tools"] = Tools,
            ["add_generation_prompt"] = false,
        });
        // No system message: the system block holds only the tools preamble. Empty content: the reasoning branch
        // is skipped (not last, no reasoning), no "\n" before the first tool call; string arguments are emitted verbatim.
        var expectedTail = "<|im_start|>user\nTime?<|im_end|>\n" +
                           "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"timezone\": \"UTC\"}}\n</tool_call><|im_end|>\n" +
                           "<|im_start|>user\n<tool_response>\n12:00\n</tool_response><|im_end|>\n";
        Assert.StartsWith("<|im_start|>system\n# Tools\n\nYou may call", actual);
        Assert.EndsWith("</tool_call><|im_end|>\n" + expectedTail, actual);
    }

    [Fact]
    public void Qwen3_SimpleConversationDropsHistoricalReasoning()
    {
        var messages = new List<object?>
        {
            Msg("system", "You are a concise assistant."),
            Msg("user", "Hi!"),
            Msg("assistant", "<think>\nGreet back.\n</think>\n\nHello! How can I help?"),
            Msg("user", "Tell me a joke."),
        };
        var actual = Qwen3.Value.Render(new Dictionary<string, object?>
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = true,
        });
        // The assistant turn precedes the last user query (index 2 <= last_query_index 3): its <think> part is dropped.
        const string expected =
            "<|im_start|>system\nYou are a concise assistant.<|im_end|>\n" +
            "<|im_start|>user\nHi!<|im_end|>\n" +
            "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n" +
            "<|im_start|>user\nTell me a joke.<|im_end|>\n" +
            "<|im_start|>assistant\n";
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Qwen3_FinalAssistantTurnGetsAnEmptyThinkBlock()
    {
        var actual = Qwen3.Value.Render(new Dictionary<string, object?>
        {
            ["messages"] = new List<object?> { Msg("user", "2+2?"), Msg("assistant", "4") },
            ["add_generation_prompt"] = false,
        });
        Assert.Equal("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n", actual);
    }

    [Fact]
    public void Qwen3_ReasoningContentFieldIsUsed()
    {
        var assistant = Msg("assistant", "\n4");
        assistant["reasoning_content"] = "\nAdd them.\n";
        var actual = Qwen3.Value.Render(new Dictionary<string, object?>
        {
            ["messages"] = new List<object?> { Msg("user", "2+2?"), assistant },
        });
        Assert.Equal("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd them.\n</think>\n\n4<|im_end|>\n", actual);
    }

    [Theory]
    [InlineData(false, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")]
    [InlineData(true, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")]
    [InlineData(null, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")]
    public void Qwen3_EnableThinking(bool? enableThinking, string expected)
    {
        var ctx = new Dictionary<string, object?>
        {
            ["messages"] = new List<object?> { Msg("user", "Hi") },
            ["add_generation_prompt"] = true,
        };
        if (enableThinking is not null) ctx["enable_thinking"] = enableThinking;
        Assert.Equal(expected, Qwen3.Value.Render(ctx));
    }

    [Fact]
    public void Qwen3_ParsedOnceRendersRepeatedly()
    {
        var ctx = new Dictionary<string, object?> { ["messages"] = new List<object?> { Msg("user", "Hi") } };
        Assert.Equal(Qwen3.Value.Render(ctx), Qwen3.Value.Render(ctx));
    }

    /// <summary>
    /// SmolLM2-Instruct's ChatML template. The shared smollm2 fixture has no tokenizer_config.json (so no chat_template);
    /// if one appears it is rendered too, else the well-known template text is used. It has no whitespace control,
    /// so it also exercises plain text between tags.
    /// </summary>
    [Fact]
    public void SmolLM2ChatMlTemplate()
    {
        const string known =
            "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        var source = LoadChatTemplate("smollm2") ?? known;
        var template = ChatTemplate.Parse(source);
        var actual = template.Render(new Dictionary<string, object?>
        {
            ["messages"] = new List<object?> { Msg("user", "Hello"), Msg("assistant", "Hi there"), Msg("user", "Bye") },
            ["add_generation_prompt"] = true,
        });
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" +
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n" +
            "<|im_start|>assistant\n", actual);
        var withSystem = template.Render(new Dictionary<string, object?>
        {
            ["messages"] = new List<object?> { Msg("system", "Be brief."), Msg("user", "Hello") },
            ["add_generation_prompt"] = false,
        });
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n", withSystem);
    }

    /// <summary>A Llama-3-style template written without whitespace control: relies on HF's trim_blocks/lstrip_blocks.</summary>
    [Fact]
    public void MultiLineTemplateWithoutDashesMatchesHuggingFaceTrimming()
    {
        const string source = """
            {{ bos_token }}
            {% for message in messages %}
                {% if message['role'] == 'user' %}
            [INST] {{ message['content'] | trim }} [/INST]
                {% elif message['role'] == 'assistant' %}
            {{ message['content'] | trim }}{{ eos_token }}
                {% endif %}
            {% endfor %}

            """;
        var actual = ChatTemplate.Parse(source).Render(new Dictionary<string, object?>
        {
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
            ["messages"] = new List<object?> { Msg("user", " Hi "), Msg("assistant", "Hello ") },
        });
        Assert.Equal("<s>\n[INST] Hi [/INST]\nHello</s>\n", actual);
    }

    private static string Normalize(string s) => s.Replace("\r\n", "\n");
}
