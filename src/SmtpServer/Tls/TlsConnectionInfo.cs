using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace SmtpServer.Tls;

/// <summary>
/// What a session knows of its TLS layer. Set as a connection feature by the implicit-TLS
/// middleware, or by the session itself after STARTTLS.
/// </summary>
internal sealed class TlsConnectionInfo
{
    public required SslProtocols Protocol { get; init; }

    public required string CipherSuite { get; init; }

    public string? ServerName { get; init; }

    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>The client's certificate chained to tls.clientCa (or the system store).</summary>
    public bool ClientCertificateVerified { get; set; }

    /// <summary>
    /// What rules match (<c>from: { clientCert: ... }</c>): the verified certificate's subject CN
    /// and DNS subject alternative names, case kept, duplicates and wildcard names left out;
    /// empty when there is no certificate or it did not verify.
    /// </summary>
    public IReadOnlyList<string> VerifiedClientNames()
    {
        if (ClientCertificate is not { } certificate || !ClientCertificateVerified)
        {
            return [];
        }

        if (_names is { } cached && ReferenceEquals(_namesOf, certificate))
        {
            return cached;
        }

        var names = new List<string>();
        void Add(string? name)
        {
            name = name?.Trim();
            if (name is { Length: > 0 } && !name.Contains('*', StringComparison.Ordinal) && !names.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                names.Add(name);
            }
        }

        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (!rdn.HasMultipleElements && rdn.GetSingleElementType().Value == CommonNameOid)
            {
                Add(rdn.GetSingleElementValue());
            }
        }

        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                foreach (var dns in san.EnumerateDnsNames())
                {
                    Add(dns);
                }
            }
        }

        _namesOf = certificate;
        return _names = names;
    }

    private const string CommonNameOid = "2.5.4.3";
    private IReadOnlyList<string>? _names;
    private X509Certificate2? _namesOf;

    public static string ProtocolName(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
#pragma warning disable SYSLIB0039 // Only named here; never enabled by default.
        SslProtocols.Tls11 => "TLSv1.1",
        SslProtocols.Tls => "TLSv1",
#pragma warning restore SYSLIB0039
        _ => protocol.ToString(),
    };

    /// <summary>
    /// The comment for the Received header, like OpenSMTPD's "(TLSv1.3:CIPHER:bits:VERIFY)":
    /// "(TLSv1.3 TLS_AES_256_GCM_SHA384 client-cert=CN=x verified=yes)".
    /// </summary>
    public string ReceivedComment()
    {
        var text = new StringBuilder().Append('(').Append(ProtocolName(Protocol)).Append(' ').Append(CipherSuite);
        if (ClientCertificate is not null)
        {
            text.Append(" client-cert=\"").Append(Sanitize(ClientCertificate.Subject)).Append('"')
                .Append(" verified=").Append(ClientCertificateVerified ? "yes" : "no");
        }

        return text.Append(')').ToString();
    }

    /// <summary>Certificate subjects are client-controlled: printable ASCII only, no comment delimiters.</summary>
    internal static string Sanitize(string text)
    {
        var result = new StringBuilder(Math.Min(text.Length, 200));
        foreach (var c in text.AsSpan(0, Math.Min(text.Length, 200)))
        {
            result.Append(c is >= ' ' and <= '~' and not '(' and not ')' and not '"' and not '\\' ? c : '?');
        }

        return result.ToString();
    }
}
