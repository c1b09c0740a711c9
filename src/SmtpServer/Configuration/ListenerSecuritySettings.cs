using System.Security.Authentication;

namespace SmtpServer.Configuration;

/// <summary>listeners[].tls.mode.</summary>
internal enum TlsMode
{
    /// <summary>Plain text first, STARTTLS offered (ports 25, 587).</summary>
    StartTls,

    /// <summary>TLS from the first byte (port 465, RFC 8314).</summary>
    Implicit,
}

/// <summary>listeners[].tls.clientCertificate.</summary>
internal enum ClientCertificateMode
{
    /// <summary>No certificate is asked for.</summary>
    None,

    /// <summary>Asked for; a missing or unverified certificate is recorded, not refused.</summary>
    Optional,

    /// <summary>The handshake fails without a certificate that verifies against tls.clientCa.</summary>
    Required,
}

/// <summary>One certificate/key pair (PEM, or PKCS#12 with KeyPath null).</summary>
internal sealed record CertificateFileSettings(string CertificatePath, string? KeyPath);

/// <summary>listeners[].tls. The certificates were loaded once at config time, so they are usable.</summary>
internal sealed record ListenerTlsSettings
{
    public TlsMode Mode { get; init; } = TlsMode.StartTls;

    /// <summary>Absolute path of the certificate (PEM chain, or PKCS#12 when it ends in .pfx/.p12).</summary>
    public required string CertificatePath { get; init; }

    /// <summary>Absolute path of the PEM private key; null for a PKCS#12 certificate.</summary>
    public string? KeyPath { get; init; }

    /// <summary>tls.certificates: more pairs; the client's SNI name chooses among all of them.</summary>
    public IReadOnlyList<CertificateFileSettings> AdditionalCertificates { get; init; } = [];

    /// <summary>tls.required: MAIL is refused with 530 until STARTTLS. Always true for implicit TLS.</summary>
    public bool Required { get; init; }

    /// <summary>tls.protocols: TLS 1.2 and 1.3 by default.</summary>
    public SslProtocols Protocols { get; init; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>tls.clientCertificate.</summary>
    public ClientCertificateMode ClientCertificate { get; init; } = ClientCertificateMode.None;

    /// <summary>tls.clientCa: PEM bundle of the CAs client certificates must chain to; null = system store.</summary>
    public string? ClientCaPath { get; init; }

    /// <summary>Every configured pair, the main one first.</summary>
    public IEnumerable<CertificateFileSettings> AllCertificates =>
        [new CertificateFileSettings(CertificatePath, KeyPath), .. AdditionalCertificates];
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

    /// <summary>auth.allowPlaintext: AUTH without TLS; a config error unless the listener is on loopback.</summary>
    public bool AllowPlaintext { get; init; }

    /// <summary>auth.maxFailures: failed AUTH attempts per client IP within FailureWindow before the lockout.</summary>
    public int MaxFailures { get; init; } = 5;

    /// <summary>auth.failureWindow.</summary>
    public TimeSpan FailureWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>auth.lockout: how long a locked-out client IP gets 421 at AUTH.</summary>
    public TimeSpan Lockout { get; init; } = TimeSpan.FromMinutes(10);
}
