namespace SmtpServer.Configuration;

/// <summary>listeners[].tls.mode.</summary>
internal enum TlsMode
{
    /// <summary>Plain text first, STARTTLS offered (ports 25, 587).</summary>
    StartTls,

    /// <summary>TLS from the first byte (port 465, RFC 8314).</summary>
    Implicit,
}

/// <summary>listeners[].tls: the files exist (checked at load); loading them is the TLS issue's job.</summary>
internal sealed record ListenerTlsSettings
{
    public TlsMode Mode { get; init; } = TlsMode.StartTls;

    /// <summary>Absolute path of the certificate (PEM chain, or PKCS#12 when it ends in .pfx/.p12).</summary>
    public required string CertificatePath { get; init; }

    /// <summary>Absolute path of the PEM private key; null for a PKCS#12 certificate.</summary>
    public string? KeyPath { get; init; }

    /// <summary>tls.required: MAIL is refused with 530 until STARTTLS. Always true for implicit TLS.</summary>
    public bool Required { get; init; }
}

/// <summary>listeners[].auth.mode.</summary>
internal enum AuthMode
{
    None,
    Optional,
    Required,
}

/// <summary>listeners[].auth.</summary>
internal sealed record ListenerAuthSettings
{
    public AuthMode Mode { get; init; } = AuthMode.Optional;

    /// <summary>Name of the table in tables: that holds user:hash entries; null only when Mode is None.</summary>
    public string? CredentialsTable { get; init; }
}
