using System.Text.Json;
using LayerSkip.Engine.Loading;

namespace LayerSkip.Extensions.AI.Prompting;

/// <summary>The chat template (with the file it came from) and special-token strings of a model folder.</summary>
internal sealed record ChatTemplateSource(string? Template, string? BosToken, string? EosToken, string? TemplatePath = null)
{
    /// <summary>
    /// Reads <c>chat_template.jinja</c> or the <c>chat_template</c> of tokenizer_config.json (a string, or a list of
    /// named templates of which "default" is used), plus the bos/eos token strings the template may print.
    /// </summary>
    public static ChatTemplateSource Load(string? modelFolder)
    {
        if (modelFolder is null) return new(null, null, null);
        string? template = null, bos = null, eos = null, templatePath = null;
        var jinja = Path.Combine(modelFolder, "chat_template.jinja");
        if (File.Exists(jinja)) (template, templatePath) = (File.ReadAllText(jinja), jinja);
        var configPath = Path.Combine(modelFolder, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    throw new ModelLoadException("tokenizer_config.json is not a JSON object", configPath);
                if (template is null && root.TryGetProperty("chat_template", out var t))
                {
                    templatePath = configPath;
                    template = t.ValueKind switch
                    {
                        JsonValueKind.String => t.GetString(),
                        JsonValueKind.Array => t.EnumerateArray()
                            .Where(x => x.TryGetProperty("name", out var n) && n.GetString() == "default")
                            .Concat(t.EnumerateArray())
                            .Select(x => x.GetProperty("template").GetString())
                            .FirstOrDefault(),
                        JsonValueKind.Null => null,
                        _ => throw new ModelLoadException($"tokenizer_config.json: 'chat_template' must be a string or a list of named templates, got {t.ValueKind}", configPath),
                    };
                }
                bos = TokenText(root, "bos_token");
                eos = TokenText(root, "eos_token");
            }
            catch (JsonException e)
            {
                throw new ModelLoadException($"tokenizer_config.json is not valid JSON: {e.Message}", configPath, e);
            }
            catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException)
            {
                throw new ModelLoadException($"tokenizer_config.json: 'chat_template' entries must be objects with a string \"template\" ({e.Message})", configPath, e);
            }
        }
        return new(string.IsNullOrWhiteSpace(template) ? null : template, bos, eos, templatePath);
    }

    private static string? TokenText(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) => c.GetString(),
            _ => null,
        } : null;
}
