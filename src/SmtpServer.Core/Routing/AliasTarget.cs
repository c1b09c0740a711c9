using System.Globalization;
using System.Text.RegularExpressions;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Routing;

/// <summary>Which aliases(5) targets that run with the server's rights an action accepts (<c>actions.X.aliasTargets</c>).</summary>
[Flags]
internal enum AliasTargetPermissions
{
    /// <summary>The default: an alias file that someone else can edit must not become code execution.</summary>
    None = 0,

    /// <summary><c>/path/to/file</c>: append to an mbox file.</summary>
    Files = 1,

    /// <summary><c>|/path/to/program args</c>: run a program with the message on stdin.</summary>
    Commands = 2,
}

/// <summary>
/// One value of an aliases or virtual entry, typed (aliases(5)): <c>user@domain</c>, <c>user</c>,
/// <c>/file</c>, <c>|command</c>, <c>error:code text</c>, <c>:include:/path</c>. A value wholly in
/// double quotes (<c>"|/usr/bin/prog a,b"</c>) is read without them.
/// </summary>
internal abstract partial record AliasTarget
{
    /// <summary>
    /// The targets of one aliases or virtual entry: a map entry holds one <c>"a, b"</c> value, an
    /// aliases entry is already split (and splits again to itself).
    /// </summary>
    public static IEnumerable<AliasTarget> ParseAll(TableEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.Values.SelectMany(v => TableFileParser.SplitValues(v, expanding: true)).Select(Parse);
    }

    public static AliasTarget Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = TableFileParser.Unquote(value.Trim());

        if (text.StartsWith("error:", StringComparison.OrdinalIgnoreCase))
        {
            return new ErrorTarget(text, ParseError(text));
        }

        if (text.StartsWith(':'))
        {
            return text.StartsWith(":include:", StringComparison.OrdinalIgnoreCase)
                ? new IncludeTarget(text[9..].Trim())
                : new InvalidTarget(text, "not an address, /file, |command or error:");
        }

        if (text.StartsWith('|'))
        {
            if (!CommandLine.TrySplit(text[1..], out var argv, out var error))
            {
                return new InvalidTarget(text, error);
            }

            // No PATH search: which program runs must not depend on the environment.
            return DeliveryTarget.IsAbsolutePath(argv[0]) && !argv.Any(a => a.Contains('\0', StringComparison.Ordinal))
                ? new CommandTarget(DeliveryTarget.Command(argv))
                : new InvalidTarget(text, $"'{argv[0]}' is not an absolute program path");
        }

        if (text.StartsWith('/'))
        {
            return DeliveryTarget.IsAbsolutePath(text)
                ? new FileTarget(DeliveryTarget.File(text))
                : new InvalidTarget(text, "not a normalized absolute file path (no ., .. or empty segments, no trailing /)");
        }

        var at = text.LastIndexOf('@');
        return at >= 0 ? new AddressTarget(new Mailbox(text[..at], text[(at + 1)..])) : new LocalUserTarget(text);
    }

    /// <summary><c>error:4xx|5xx [x.y.z] text</c>; null when malformed.</summary>
    private static SmtpReply? ParseError(string value)
    {
        var match = ErrorPattern().Match(value);
        if (!match.Success)
        {
            return null;
        }

        var code = int.Parse(match.Groups["code"].Value, CultureInfo.InvariantCulture);
        var status = match.Groups["status"].Success && match.Groups["status"].Value[0] == match.Groups["code"].Value[0]
            ? match.Groups["status"].Value
            : $"{match.Groups["code"].Value[0]}.0.0";
        var text = match.Groups["text"].Value.Trim();
        return new SmtpReply(code, status, text.Length == 0 ? "Delivery refused" : text);
    }

    [GeneratedRegex(@"^error:\s*(?<code>[45][0-9][0-9])(?:[ -](?<status>[45]\.[0-9]{1,3}\.[0-9]{1,3}))?(?<text>[\x20-\x7E]*)$", RegexOptions.IgnoreCase)]
    private static partial Regex ErrorPattern();
}

/// <summary><c>user@domain</c>: routed through the rules again, as <c>from local</c>.</summary>
internal sealed record AddressTarget(Mailbox Address) : AliasTarget;

/// <summary><c>user</c>: a user of the action being expanded, in the recipient's domain.</summary>
internal sealed record LocalUserTarget(string User) : AliasTarget;

/// <summary><c>/path/to/file</c>: appended to as an mbox, when the action allows files.</summary>
internal sealed record FileTarget(DeliveryTarget Target) : AliasTarget;

/// <summary><c>|/path/to/program args</c>: run with the message on stdin, when the action allows commands.</summary>
internal sealed record CommandTarget(DeliveryTarget Target) : AliasTarget;

/// <summary><c>error:code text</c>: the RCPT reply; <see cref="Reply"/> is null when the value is malformed.</summary>
internal sealed record ErrorTarget(string Text, SmtpReply? Reply) : AliasTarget;

/// <summary><c>:include:/path</c>: more values, read from that file (absolute path) when the entry is expanded.</summary>
internal sealed record IncludeTarget(string Path) : AliasTarget;

/// <summary>A file or command value that cannot be used as written, and why.</summary>
internal sealed record InvalidTarget(string Text, string Problem) : AliasTarget;
