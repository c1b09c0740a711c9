namespace SmtpServer.Protocol;

/// <summary>
/// An RFC 5321 §4.1.2 mailbox, as received (local part kept verbatim, quoted form included).
/// The null reverse-path <c>&lt;&gt;</c> is represented by <c>null</c> where a
/// <see cref="Mailbox"/> is expected, never by an empty instance.
/// </summary>
/// <param name="LocalPart">The local part exactly as sent (dot-atom or quoted-string).</param>
/// <param name="Domain">The domain or address literal (e.g. <c>[192.0.2.1]</c>); empty only for
/// <c>&lt;postmaster&gt;</c>.</param>
internal sealed record Mailbox(string LocalPart, string Domain)
{
    /// <summary><c>local@domain</c>, or <c>postmaster</c> for the bare postmaster address.</summary>
    public string Address => Domain.Length == 0 ? LocalPart : $"{LocalPart}@{Domain}";

    /// <summary>True when either part holds non-ASCII characters (needs SMTPUTF8, RFC 6531).</summary>
    public bool IsInternationalized => !System.Text.Ascii.IsValid(LocalPart) || !System.Text.Ascii.IsValid(Domain);

    public override string ToString() => Address;
}

/// <summary>BODY= of MAIL FROM (RFC 6152, RFC 3030).</summary>
internal enum BodyType
{
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// <summary>RET= of MAIL FROM (RFC 3461 §4.3).</summary>
internal enum DsnReturn
{
    Unspecified,
    Full,
    Headers,
}

/// <summary>NOTIFY= of RCPT TO (RFC 3461 §4.1). None means the parameter was absent.</summary>
[Flags]
internal enum DsnNotify
{
    None = 0,
    Never = 1,
    Success = 2,
    Failure = 4,
    Delay = 8,
}

/// <summary>The ESMTP parameters of MAIL FROM, validated.</summary>
internal sealed record MailParameters
{
    public static readonly MailParameters Empty = new();

    /// <summary>SIZE= (RFC 1870), or null when absent.</summary>
    public long? Size { get; init; }

    public BodyType Body { get; init; } = BodyType.SevenBit;

    /// <summary>SMTPUTF8 (RFC 6531 §3.4).</summary>
    public bool SmtpUtf8 { get; init; }

    public DsnReturn Ret { get; init; } = DsnReturn.Unspecified;

    /// <summary>ENVID= decoded from xtext (RFC 3461 §4.4), or null.</summary>
    public string? EnvelopeId { get; init; }

    /// <summary>AUTH= (RFC 4954 §5) decoded from xtext, or null. Kept, not trusted.</summary>
    public string? Auth { get; init; }
}

/// <summary>The ESMTP parameters of RCPT TO, validated.</summary>
internal sealed record RcptParameters
{
    public static readonly RcptParameters Empty = new();

    public DsnNotify Notify { get; init; } = DsnNotify.None;

    /// <summary>ORCPT= address type (e.g. "rfc822" or "utf-8"), or null.</summary>
    public string? OriginalRecipientType { get; init; }

    /// <summary>ORCPT= address decoded from xtext / utf-8-addr-xtext, or null.</summary>
    public string? OriginalRecipient { get; init; }
}
