namespace SmtpServer.Protocol;

/// <summary>What <see cref="SmtpAddressParser.ParsePath"/> found.</summary>
internal enum PathStatus
{
    /// <summary>Not a valid path: 501 with X.1.7 (sender) or X.1.3 (recipient).</summary>
    Invalid,

    /// <summary>A mailbox; the local part and domain ranges are set.</summary>
    Mailbox,

    /// <summary>The null path <c>&lt;&gt;</c> (RFC 5321 §4.5.5).</summary>
    Null,

    /// <summary>The bare <c>&lt;Postmaster&gt;</c> forward-path (RFC 5321 §4.1.1.3).</summary>
    Postmaster,
}
