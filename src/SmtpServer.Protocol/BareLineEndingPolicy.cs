namespace SmtpServer.Protocol;

/// <summary>
/// What DATA and BDAT do with a CR or LF that is not part of a CRLF pair (DESIGN.md, decision 5;
/// the SMTP smuggling class of attacks). Config key <c>server.smtp.bareLineEndings</c>.
/// </summary>
internal enum BareLineEndingPolicy
{
    /// <summary>Reject the message (550 5.6.11 after the end of data); the default.</summary>
    Reject,

    /// <summary>Store a bare CR or LF as CRLF.</summary>
    Normalize,
}
