using System.Globalization;
using System.Text;
using MimeKit;
using MimeKit.Utils;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Bounces;

/// <summary>
/// Writes a delivery status notification (RFC 3464, RFC 3461 §6, RFC 6522):
/// <c>multipart/report; report-type=delivery-status</c> with a human-readable
/// <c>text/plain</c> part, a <c>message/delivery-status</c> part and the original: headers
/// only (<c>text/rfc822-headers</c>), or the whole message (<c>message/rfc822</c>) for a
/// failure with RET=FULL when it is no larger than <see cref="BounceOptions.MaxReturnedMessageSize"/>.
/// Every value that came from a remote party (addresses, ENVID, ORCPT, a remote reply) is
/// written as printable ASCII on one logical line, so none can add a field or a part
/// (non-ASCII addresses become RFC 6533 utf-8-addr-xtext).
/// </summary>
internal static class DsnBuilder
{
    public const string DaemonName = "Mail Delivery System";

    // Keeps every line under RFC 5322's 998 octets, even a diagnostic without spaces to fold at.
    private const int MaxDiagnosticLength = 900;

    public static MimeMessage Build(DsnReport report, BounceOptions options, DateTimeOffset now, out Exception? originalError)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(options);
        if (report.Recipients.Count == 0)
        {
            throw new ArgumentException("A DSN needs at least one recipient.", nameof(report));
        }

        var first = report.Recipients[0].Envelope;
        var sender = first.SenderMailbox ?? throw new ArgumentException("No DSN goes to the null sender.", nameof(report));

        var message = new MimeMessage();
        message.Headers.Clear();
        message.From.Add(new MailboxAddress(DaemonName, "MAILER-DAEMON@" + options.Hostname));
        message.To.Add(MailboxAddress.TryParse(sender.Address, out var to) ? to : new GroupAddress("undisclosed-recipients"));
        message.Subject = "Delivery status notification: " + ActionName(report.Kind);
        message.Date = now;
        message.MessageId = NewMessageId(options.Hostname);

        // RFC 3834 §5: an automatic response; RFC 3464 needs no more to keep it from looping,
        // since it goes from <> and we never answer <> (DsnPolicy).
        message.Headers.Add("Auto-Submitted", "auto-replied");

        var multipart = new MultipartReport("delivery-status")
        {
            HumanReadablePart(report, options, sender),
            DeliveryStatusPart(report, options),
        };

        originalError = null;
        try
        {
            multipart.Add(OriginalPart(report, options));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // RFC 3464 §2: the third part is optional; a DSN without it beats no DSN.
            originalError = e;
        }

        message.Body = multipart;
        return message;
    }

    public static string ActionName(DsnKind kind) => kind switch
    {
        DsnKind.Failed => "failed",
        DsnKind.Delayed => "delayed",
        _ => "delivered",
    };

    /// <summary>The RFC 3463 status to report: the agent's when it fits the kind, else the kind's default.</summary>
    public static string StatusFor(DsnKind kind, string? status)
    {
        var expected = kind switch
        {
            DsnKind.Failed => '5',
            DsnKind.Delayed => '4',
            _ => '2',
        };
        return status is { Length: >= 5 and <= 9 } && status[0] == expected && IsEnhancedStatus(status)
            ? status
            : expected + ".0.0";
    }

    /// <summary>The enhanced status inside an SMTP reply such as "451 4.3.0 text", or null.</summary>
    public static string? StatusInReply(string? reply)
    {
        if (reply is null || reply.Length < 9 || !char.IsAsciiDigit(reply[0]) || !char.IsAsciiDigit(reply[1]) || !char.IsAsciiDigit(reply[2]) || reply[3] is not (' ' or '-'))
        {
            return null;
        }

        var end = reply.IndexOf(' ', 4);
        var candidate = end < 0 ? reply[4..] : reply[4..end];
        return IsEnhancedStatus(candidate) && candidate[0] == reply[0] ? candidate : null;
    }

    /// <summary>
    /// A DSN address field value (RFC 3464 §2.3.2): "rfc822; addr" for ASCII, "utf-8; " and the
    /// utf-8-addr-xtext form (RFC 6533 §3) for an internationalized address.
    /// </summary>
    public static string AddressField(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var printable = true;
        foreach (var c in address)
        {
            if (c is < '!' or > '~' && c != ' ')
            {
                printable = false;
                break;
            }
        }

        return printable ? "rfc822; " + address : "utf-8; " + EncodeUtf8AddrXtext(address);
    }

    /// <summary>utf-8-addr-xtext (RFC 6533 §3): QCHAR as is, anything else as \x{HEX}.</summary>
    public static string EncodeUtf8AddrXtext(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var builder = new StringBuilder(value.Length);
        foreach (var rune in value.EnumerateRunes())
        {
            var v = rune.Value;
            if (v is >= 0x21 and <= 0x7E && v != '+' && v != '=' && v != '\\')
            {
                builder.Append((char)v);
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{{{v:X2}}}");
            }
        }

        return builder.ToString();
    }

    private static MimePart HumanReadablePart(DsnReport report, BounceOptions options, Mailbox sender)
    {
        var text = new StringBuilder();
        text.Append("Hi!\r\n\r\n");
        text.Append(CultureInfo.InvariantCulture, $"This is the mail system at {options.Hostname}; please do not reply to this message.\r\n\r\n");
        switch (report.Kind)
        {
            case DsnKind.Failed:
                text.Append("Your message could not be delivered to the recipients below. This is a permanent\r\n");
                text.Append("error; the message will not be retried.\r\n\r\n");
                break;
            case DsnKind.Delayed:
                text.Append("Your message has not been delivered yet to the recipients below. It is still in\r\n");
                text.Append("the queue and delivery will be retried");
                if (report.RetryUntil is { } until)
                {
                    text.Append(CultureInfo.InvariantCulture, $" until {DateUtils.FormatDate(until)}");
                }

                text.Append("; you do not need to send it again.\r\n\r\n");
                break;
            default:
                text.Append("Your message was delivered to the recipients below, as you asked.\r\n\r\n");
                break;
        }

        foreach (var recipient in report.Recipients)
        {
            text.Append(CultureInfo.InvariantCulture, $"  <{recipient.Envelope.RecipientMailbox.Address}>");
            var reason = recipient.Reason is null
                ? recipient.Diagnostic
                : recipient.Diagnostic is null ? recipient.Reason : recipient.Reason + "; last error: " + recipient.Diagnostic;
            if (reason is not null)
            {
                reason = Printable(reason, keepNonAscii: true);
                text.Append(": ").Append(reason.Length > MaxDiagnosticLength ? reason[..MaxDiagnosticLength] : reason);
            }

            text.Append("\r\n");
        }

        text.Append("\r\nThe technical report and the original message's ");
        text.Append(ReturnsFullMessage(report, options) ? "content" : "headers");
        text.Append(CultureInfo.InvariantCulture, $" follow. It was sent by <{sender.Address}>.\r\n");

        var body = text.ToString();
        var part = new TextPart("plain");
        part.SetText(Encoding.UTF8, body);
        part.ContentTransferEncoding = Ascii.IsValid(body) ? ContentEncoding.SevenBit : ContentEncoding.QuotedPrintable;
        return part;
    }

    private static MessageDeliveryStatus DeliveryStatusPart(DsnReport report, BounceOptions options)
    {
        var first = report.Recipients[0].Envelope;
        var status = new MessageDeliveryStatus();

        // Per-message fields, RFC 3464 §2.2.
        var perMessage = new HeaderList();
        if (first.EnvelopeIdParameter is { } envelopeId)
        {
            perMessage.Add(Field("Original-Envelope-Id", Printable(envelopeId, keepNonAscii: false)));
        }

        perMessage.Add(Field("Reporting-MTA", "dns; " + options.Hostname));
        perMessage.Add(Field("Arrival-Date", DateUtils.FormatDate(first.ReceivedAt)));
        status.StatusGroups.Add(perMessage);

        // Per-recipient fields, RFC 3464 §2.3, in the order it lists them.
        foreach (var recipient in report.Recipients)
        {
            var envelope = recipient.Envelope;
            var fields = new HeaderList();
            if (envelope.OriginalRecipient is { } original)
            {
                fields.Add(Field("Original-Recipient", OriginalRecipientField(envelope.OriginalRecipientType, original)));
            }

            fields.Add(Field("Final-Recipient", AddressField(envelope.RecipientMailbox.Address)));
            fields.Add(Field("Action", ActionName(report.Kind)));
            fields.Add(Field("Status", StatusFor(report.Kind, recipient.Status)));
            if (recipient.RemoteMta is { Length: > 0 } remote)
            {
                fields.Add(Field("Remote-MTA", "dns; " + Printable(remote, keepNonAscii: false)));
            }

            if (recipient.Diagnostic is { Length: > 0 } diagnostic)
            {
                fields.Add(Field("Diagnostic-Code", DiagnosticField(diagnostic)));
            }

            if (recipient.LastAttempt is { } lastAttempt)
            {
                fields.Add(Field("Last-Attempt-Date", DateUtils.FormatDate(lastAttempt)));
            }

            if (report.Kind == DsnKind.Delayed && report.RetryUntil is { } until)
            {
                fields.Add(Field("Will-Retry-Until", DateUtils.FormatDate(until)));
            }

            status.StatusGroups.Add(fields);
        }

        return status;
    }

    private static MimePart OriginalPart(DsnReport report, BounceOptions options)
    {
        var first = report.Recipients[0].Envelope;
        byte[] content;
        MimePart part;
        if (ReturnsFullMessage(report, options))
        {
            content = File.ReadAllBytes(report.MessagePath);
            part = new MimePart("message", "rfc822");
        }
        else
        {
            content = ReadHeaderSection(report.MessagePath, options.MaxReturnedHeaderSize);
            part = new MimePart("text", "rfc822-headers");
        }

        // The bytes as stored (DESIGN decision 4); label them so a 7-bit path knows what it carries.
        var encoding = first.Body == BodyType.BinaryMime ? ContentEncoding.Binary
            : Ascii.IsValid(content) ? ContentEncoding.SevenBit : ContentEncoding.EightBit;
        part.Content = new MimeContent(new MemoryStream(content, writable: false), encoding);
        if (encoding != ContentEncoding.SevenBit)
        {
            part.ContentTransferEncoding = encoding;
        }

        return part;
    }

    private static bool ReturnsFullMessage(DsnReport report, BounceOptions options)
    {
        // RFC 3461 §4.3: RET applies to failure DSNs; others carry headers only.
        if (report.Kind != DsnKind.Failed || report.Recipients[0].Envelope.Ret != DsnReturn.Full)
        {
            return false;
        }

        try
        {
            return new FileInfo(report.MessagePath).Length <= options.MaxReturnedMessageSize;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The header section: up to and including the CRLF before the empty line.</summary>
    private static byte[] ReadHeaderSection(string path, int limit)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var buffer = new byte[(int)Math.Min(limit, Math.Max(stream.Length, 0))];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = stream.Read(buffer, read, buffer.Length - read);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        var span = buffer.AsSpan(0, read);
        var end = span.IndexOf("\r\n\r\n"u8);
        if (end >= 0)
        {
            return span[..(end + 2)].ToArray();
        }

        // No body, or a header section longer than the cap: whole lines only.
        var lastLine = span.LastIndexOf("\r\n"u8);
        return lastLine < 0 ? [] : span[..(lastLine + 2)].ToArray();
    }

    private static string OriginalRecipientField(string? type, string address)
    {
        // RFC 3461 §4.2 / RFC 6533: "rfc822" for plain ASCII, "utf-8" with utf-8-addr-xtext otherwise.
        var field = AddressField(address);
        if (type is not null && field.StartsWith("rfc822;", StringComparison.Ordinal) && !string.Equals(type, "rfc822", StringComparison.OrdinalIgnoreCase)
            && type.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
        {
            // An address type we do not know, kept as the client gave it.
            return type + "; " + address;
        }

        return field;
    }

    private static string DiagnosticField(string diagnostic)
    {
        var text = Printable(diagnostic, keepNonAscii: false);
        if (text.Length > MaxDiagnosticLength)
        {
            text = text[..MaxDiagnosticLength];
        }

        // RFC 3464 §2.3.6: "smtp" for an SMTP reply; anything else is our agent's own words.
        var isSmtp = text.Length >= 3 && char.IsAsciiDigit(text[0]) && char.IsAsciiDigit(text[1]) && char.IsAsciiDigit(text[2])
            && (text.Length == 3 || text[3] is ' ' or '-');
        return (isSmtp ? "smtp; " : "x-local; ") + text;
    }

    private static bool IsEnhancedStatus(string status)
    {
        var parts = status.Split('.');
        return parts.Length == 3
            && parts[0] is "2" or "4" or "5"
            && parts[1].Length is >= 1 and <= 3 && parts[1].All(char.IsAsciiDigit)
            && parts[2].Length is >= 1 and <= 3 && parts[2].All(char.IsAsciiDigit);
    }

    /// <summary>One line of text: controls become spaces, and (for fields) non-ASCII becomes '?'.</summary>
    private static string Printable(string value, bool keepNonAscii)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            builder.Append(c switch
            {
                < ' ' or '\x7f' => ' ',
                > '\x7f' when !keepNonAscii => '?',
                _ => c,
            });
        }

        return builder.ToString().Trim();
    }

    /// <summary>
    /// A field with its raw value, folded at spaces (RFC 5322 §2.2.3): MimeKit's own encoder
    /// would turn long words into RFC 2047 encoded-words, which have no place in a DSN.
    /// </summary>
    private static Header Field(string name, string value)
    {
        var raw = new StringBuilder(value.Length + 8);
        var column = name.Length + 1;
        foreach (var word in value.Split(' '))
        {
            if (column + 1 + word.Length > 78 && column > name.Length + 1)
            {
                raw.Append("\r\n");
                column = 0;
            }

            raw.Append(' ').Append(word);
            column += 1 + word.Length;
        }

        raw.Append("\r\n");
        var header = new Header(name, "-");
        header.SetRawValue(Encoding.ASCII.GetBytes(raw.ToString()));
        return header;
    }

    private static string NewMessageId(string hostname)
    {
        try
        {
            return MimeUtils.GenerateMessageId(hostname);
        }
        catch (ArgumentException)
        {
            return MimeUtils.GenerateMessageId();
        }
    }
}
