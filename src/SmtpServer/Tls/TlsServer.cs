using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;

namespace SmtpServer.Tls;

/// <summary>
/// The server side of TLS for one listener: certificates (with SNI and reload), protocols and
/// client certificates. Both STARTTLS (in the session) and implicit TLS (connection
/// middleware) hand their stream to <see cref="AuthenticateAsync"/>.
/// </summary>
internal sealed class TlsServer
{
    private readonly ListenerTlsSettings _settings;
    private readonly X509Certificate2Collection? _clientCa;

    public TlsServer(ListenerTlsSettings settings, ILogger logger)
    {
        _settings = settings;
        Certificates = new CertificateStore(settings.AllCertificates, logger);
        if (settings.ClientCaPath is not null)
        {
            _clientCa = [];
            _clientCa.ImportFromPemFile(settings.ClientCaPath);
        }
    }

    public ListenerTlsSettings Settings => _settings;

    public CertificateStore Certificates { get; }

    /// <summary>Runs the server handshake on <paramref name="inner"/>; the caller owns the result.</summary>
    public async Task<(SslStream Stream, TlsConnectionInfo Info)> AuthenticateAsync(Stream inner, CancellationToken cancellationToken)
    {
        var client = new ClientCertificateState();
        var ssl = new SslStream(inner, leaveInnerStreamOpen: true);
        try
        {
            string? serverName = null;
            await ssl.AuthenticateAsServerAsync(
                (_, hello, _, _) =>
                {
                    serverName = string.IsNullOrEmpty(hello.ServerName) ? null : hello.ServerName;
                    return ValueTask.FromResult(Options(serverName, client));
                },
                null,
                cancellationToken).ConfigureAwait(false);

            var info = new TlsConnectionInfo
            {
                Protocol = ssl.SslProtocol,
                CipherSuite = ssl.NegotiatedCipherSuite.ToString(),
                ServerName = serverName,
                ClientCertificate = client.Certificate,
                ClientCertificateVerified = client.Verified,
            };
            return (ssl, info);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private SslServerAuthenticationOptions Options(string? serverName, ClientCertificateState client)
    {
        var mode = _settings.ClientCertificate;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = Certificates.Select(serverName),
            EnabledSslProtocols = _settings.Protocols,
            ClientCertificateRequired = mode != ClientCertificateMode.None,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = mode == ClientCertificateMode.None
                ? null
                : (_, certificate, _, _) => ValidateClient(certificate, mode, client),
        };
    }

    private bool ValidateClient(X509Certificate? certificate, ClientCertificateMode mode, ClientCertificateState client)
    {
        if (certificate is null)
        {
            return mode != ClientCertificateMode.Required;
        }

        var presented = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        client.Certificate = presented;
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2")); // clientAuth
        if (_clientCa is not null)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(_clientCa);
        }

        client.Verified = chain.Build(presented);

        // Optional: an unverified certificate is recorded as such (Received says verified=no).
        return client.Verified || mode == ClientCertificateMode.Optional;
    }

    private sealed class ClientCertificateState
    {
        public X509Certificate2? Certificate { get; set; }

        public bool Verified { get; set; }
    }
}

/// <summary>TLS 1.2 and 1.3 by default (tls.protocols).</summary>
internal static class TlsProtocols
{
    public static bool TryParse(string name, out SslProtocols protocol)
    {
        protocol = name.ToUpperInvariant().Replace("V", string.Empty, StringComparison.Ordinal) switch
        {
            "TLS1.2" => SslProtocols.Tls12,
            "TLS1.3" => SslProtocols.Tls13,
            _ => SslProtocols.None,
        };
        return protocol != SslProtocols.None;
    }
}
