using System.Text.Json;
using LayerSkip.Engine.Tokenization;
using LayerSkip.Extensions.AI.Prompting;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Tests.Prompting;

/// <summary>Microsoft.Extensions.AI conversations rendered through real chat templates.</summary>
public class PromptFormatterTests
{
    private static readonly Lazy<TextTokenizer> Qwen3 = new(() => TextTokenizer.Load(SharedData.Path("fixtures", "tokenizers", "qwen3")));

    private static PromptFormatter Qwen3Formatter() =>
        new(ChatTemplateSource.Load(SharedData.Path("fixtures", "tokenizers", "qwen3")), Qwen3.Value);

    [Fact]
    public void AToolConversationRendersInQwen3sFormat()
    {
        var tool = AIFunctionFactory.Create((string city) => "Sunny", "get_weather", "Gets the weather");
        var messages = new List<ChatMessage>
        {
            new(ChatRole.User, "Weather in Paris?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "Sunny, 21C")]),
        };
        var options = new ChatOptions { Instructions = "You are terse.", Tools = [tool] };
        var prompt = Qwen3Formatter().Render(messages, options);

        var schema = JsonSerializer.Serialize(tool.JsonSchema, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })
            .Replace(",", ", ").Replace(":", ": ");
        var expected =
            "<|im_start|>system\nYou are terse.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
            "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Gets the weather\", \"parameters\": " + schema + "}}\n" +
            "</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
            "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\n<tool_response>\nSunny, 21C\n</tool_response><|im_end|>\n" +
            "<|im_start|>assistant\n";
        Assert.Equal(expected, prompt);

        var tokens = Qwen3Formatter().Tokenize(prompt);
        Assert.Equal(Qwen3.Value.TokenToId("<|im_start|>"), tokens[0]); // special tokens in the text are single ids; no BOS added
    }

    [Fact]
    public void ChatTemplateKwargsReachTheTemplate()
    {
        var options = new ChatOptions { AdditionalProperties = new() { ["chat_template_kwargs"] = new Dictionary<string, object?> { ["enable_thinking"] = false } } };
        var prompt = Qwen3Formatter().Render([new ChatMessage(ChatRole.User, "Hi")], options);
        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", prompt);
    }

    [Fact]
    public void ModelsWithoutATemplateUseThePromptAsIsOrATranscript()
    {
        var tokenizer = TextTokenizer.Load(SharedData.Stories260K);
        var formatter = new PromptFormatter(ChatTemplateSource.Load(SharedData.Stories260K), tokenizer);
        Assert.False(formatter.HasTemplate);
        Assert.Equal("Once upon a time", formatter.Render([new ChatMessage(ChatRole.User, "Once upon a time")], null));
        Assert.Equal("Be kind.\n\nOnce upon a time", formatter.Render([new ChatMessage(ChatRole.User, "Once upon a time")], new ChatOptions { Instructions = "Be kind." }));
        var transcript = formatter.Render([new ChatMessage(ChatRole.User, "Hi"), new ChatMessage(ChatRole.Assistant, "Hello"), new ChatMessage(ChatRole.User, "Tell a story")], null);
        Assert.Equal("User: Hi\nAssistant: Hello\nUser: Tell a story\nAssistant:", transcript);
        Assert.Equal(tokenizer.BosTokenId, formatter.Tokenize("Once")[0]);
    }

    private static readonly Lazy<TextTokenizer> Stories = new(() => TextTokenizer.Load(SharedData.Stories260K));

    [Fact]
    public void AModelWithoutATemplateSeesTheToolsAndItsPastCalls()
    {
        var tool = AIFunctionFactory.Create((string city, int days = 1) => "Sunny", "get_weather", "Gets the weather");
        var formatter = new PromptFormatter(new ChatTemplateSource(null, null, null), Stories.Value);
        var messages = new List<ChatMessage>
        {
            new(ChatRole.User, "Weather in Paris?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "Sunny, 21C")]),
        };
        var prompt = formatter.Render(messages, new ChatOptions { Tools = [tool] });
        Assert.Equal(
            "You can call these functions:\n- get_weather(city: string, days?: integer): Gets the weather\n" +
            "To call one, write <tool_call>{\"name\": \"...\", \"arguments\": {...}}</tool_call>.\n\n" +
            "User: Weather in Paris?\nAssistant: <tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n</tool_call>\n" +
            "Tool: Sunny, 21C\nAssistant:", prompt);
        Assert.DoesNotContain("get_weather", formatter.Render(messages.Take(1), new ChatOptions { Tools = [tool], ToolMode = ChatToolMode.None }));
    }

    [Fact]
    public void ATemplateThatIgnoresToolsGetsThemInTheSystemText()
    {
        const string template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
        var formatter = new PromptFormatter(new ChatTemplateSource(template, null, null), Stories.Value);
        Assert.False(formatter.TemplateShowsTools);
        var tool = AIFunctionFactory.Create(() => "12:00", "now", "Gets the time");
        var prompt = formatter.Render([new ChatMessage(ChatRole.User, "Time?")], new ChatOptions { Tools = [tool] });
        Assert.StartsWith("<system>You can call these functions:\n- now(): Gets the time\n", prompt);
        Assert.EndsWith("<user>Time?\n<assistant>", prompt);
        Assert.True(Qwen3Formatter().TemplateShowsTools);
    }
}
