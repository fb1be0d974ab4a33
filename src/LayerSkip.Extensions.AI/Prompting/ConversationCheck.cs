using Microsoft.Extensions.AI;

namespace LayerSkip.Extensions.AI.Prompting;

/// <summary>
/// What a text-only decoder can take from a conversation: text, tool calls and tool results. Anything else that
/// carries input (images, audio, files, links) is refused rather than silently dropped, and so is a conversation
/// with nothing to read, which would otherwise generate from a bare start token.
/// </summary>
internal static class ConversationCheck
{
    /// <exception cref="ArgumentException">No messages, a null message, or no message with any content.</exception>
    /// <exception cref="NotSupportedException">A message holds content the model cannot read; the message names its type.</exception>
    public static void Validate(IReadOnlyList<ChatMessage> messages, string? instructions)
    {
        if (messages.Count == 0)
            throw new ArgumentException("The conversation has no messages.", nameof(messages));
        var hasContent = !string.IsNullOrWhiteSpace(instructions);
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i] ?? throw new ArgumentException($"Message {i} is null.", nameof(messages));
            foreach (var content in message.Contents)
            {
                switch (content)
                {
                    case TextContent t:
                        hasContent |= !string.IsNullOrEmpty(t.Text);
                        break;
                    case FunctionCallContent or FunctionResultContent:
                        hasContent = true;
                        break;
                    case DataContent or UriContent or HostedFileContent:
                        throw new NotSupportedException(
                            $"Message {i} ({message.Role}) holds {Describe(content)}, which this text-only model cannot read; send text (for example a description or transcript) instead.");
                }
            }
        }
        if (!hasContent)
            throw new ArgumentException("The conversation has no content: every message's text is empty.", nameof(messages));
    }

    private static string Describe(AIContent content) => content switch
    {
        DataContent d => $"{nameof(DataContent)} of media type '{d.MediaType}'",
        UriContent u => $"{nameof(UriContent)} of media type '{u.MediaType}'",
        HostedFileContent f => $"{nameof(HostedFileContent)} '{f.FileId}'",
        _ => content.GetType().Name,
    };
}
