namespace LayerSkip.Extensions.AI.Templates;
public sealed class ChatTemplate { public static ChatTemplate Parse(string s) => new(); public string Render(IReadOnlyDictionary<string, object?> c) => throw new NotImplementedException(); }
