namespace SmtpServer.Protocol;

/// <summary>Why DATA or BDAT content was refused; the reply is <see cref="SmtpReplies.For(MessageContentError)"/>.</summary>
internal enum MessageContentError
{
    None,

    /// <summary>More content octets than the configured maximum (RFC 1870 §6.2).</summary>
    TooLarge,

    /// <summary>A text line longer than the limit, CRLF included (RFC 5321 §4.5.3.1.6).</summary>
    LineTooLong,

    /// <summary>A CR or LF outside a CRLF pair (RFC 5321 §2.3.8) with <see cref="BareLineEndingPolicy.Reject"/>.</summary>
    BareLineEnding,

    /// <summary>The header section is larger than the limit.</summary>
    HeaderTooLarge,

    /// <summary>Too many Received: header fields: a mail loop (RFC 5321 §6.3).</summary>
    TooManyHops,
}
