namespace SmtpServer.Protocol;

/// <summary>The commands the server understands (RFC 5321 §4.1.1 plus the ESMTP extensions it advertises).</summary>
internal enum SmtpVerb
{
    Unknown,
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Help,
    Vrfy,
    Expn,
    StartTls,
    Auth,
}
