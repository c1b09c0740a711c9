using SmtpServer.Core.Queue;
using System.Text;

namespace SmtpServer.Delivery;

/// <summary>
/// An absolute path with <c>{user}</c>, <c>{domain}</c> and <c>{rcpt}</c> placeholders. Each
/// expansion is checked to be a safe path segment (<see cref="LocalRecipient.IsSafePathSegment"/>)
/// and the result to stay under the template's fixed prefix (the directory before the first
/// placeholder): envelope data can name a mailbox, never a place in the file system.
/// </summary>
internal sealed class PathTemplate
{
    private readonly string _template;

    public PathTemplate(string template)
    {
        ArgumentException.ThrowIfNullOrEmpty(template);
        if (Problem(template) is { } problem)
        {
            throw new ArgumentException(problem, nameof(template));
        }

        _template = template;
        var first = template.IndexOf('{', StringComparison.Ordinal);
        var fixedPart = first < 0 ? template : template[..first];
        var slash = fixedPart.LastIndexOf('/');
        Root = Path.GetFullPath(slash <= 0 ? "/" : fixedPart[..(slash + 1)]);
        if (!Root.EndsWith('/'))
        {
            Root += "/";
        }
    }

    /// <summary>What is wrong with <paramref name="template"/> (not absolute, an unknown placeholder), or null.</summary>
    public static string? Problem(string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        if (!Path.IsPathFullyQualified(template))
        {
            return $"Delivery path \"{template}\" must be absolute.";
        }

        var rest = template;
        while (rest.IndexOf('{', StringComparison.Ordinal) is var open and >= 0)
        {
            var close = rest.IndexOf('}', open);
            var name = close < 0 ? rest[open..] : rest[open..(close + 1)];
            if (name is not ("{user}" or "{domain}" or "{rcpt}"))
            {
                return $"Delivery path \"{template}\": unknown placeholder {name} (use {{user}}, {{domain}} or {{rcpt}}).";
            }

            rest = rest[(close + 1)..];
        }

        if (template.Contains('}', StringComparison.Ordinal) && !template.Contains('{', StringComparison.Ordinal))
        {
            return $"Delivery path \"{template}\": stray '}}'.";
        }

        return null;
    }

    /// <summary>The directory every expansion stays under.</summary>
    public string Root { get; }

    public override string ToString() => _template;

    /// <summary>
    /// The scheduler's grouping key for a recipient: the expanded path. An unsafe recipient
    /// still needs a key; the agent's delivery then fails it with 5.1.3.
    /// </summary>
    public string DestinationOf(EnvelopeRecord envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return TryExpand(LocalRecipient.From(envelope.Recipient), out var path) ? path : "unsafe:" + LocalRecipient.FormatAddress(envelope.Recipient);
    }

    /// <summary>Expands the template for <paramref name="recipient"/>, or returns false when an expansion is unsafe.</summary>
    public bool TryExpand(LocalRecipient recipient, out string path)
    {
        path = string.Empty;
        var builder = new StringBuilder(_template.Length + 64);
        var rest = _template.AsSpan();
        while (rest.IndexOf('{') is var open and >= 0)
        {
            builder.Append(rest[..open]);
            var close = rest[open..].IndexOf('}') + open;
            var value = rest[(open + 1)..close] switch
            {
                "user" => recipient.User,
                "domain" => recipient.Domain,
                _ => recipient.Address.ToLowerInvariant(),
            };

            if (!LocalRecipient.IsSafePathSegment(value))
            {
                return false;
            }

            builder.Append(value);
            rest = rest[(close + 1)..];
        }

        builder.Append(rest);
        var full = Path.GetFullPath(builder.ToString());

        // Belt and braces: the segment check already rules out traversal.
        if (!full.StartsWith(Root, StringComparison.Ordinal) || full.Length == Root.Length)
        {
            return false;
        }

        path = full;
        return true;
    }
}
