using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;

namespace SmtpServer.Tls;

/// <summary>
/// The certificates of one listener. Each handshake picks one by the client's SNI name (like
/// OpenSMTPD 7.3+, from the names inside the certificates; the first one otherwise) and first
/// checks the files' modification times, so a renewal by certbot or cert-manager takes effect
/// at the next handshake without a restart. A renewal that does not load is logged and the
/// previous certificate stays in use.
/// </summary>
internal sealed class CertificateStore
{
    private readonly Entry[] _entries;
    private readonly ILogger _logger;

    public CertificateStore(IEnumerable<CertificateFileSettings> files, ILogger logger)
    {
        _logger = logger;
        _entries = [.. files.Select(f => new Entry(f))];
        foreach (var entry in _entries)
        {
            // At start-up a certificate that does not load is fatal (the config check already said why).
            entry.Reload(_logger, throwOnError: true);
        }
    }

    public SslStreamCertificateContext Select(string? serverName)
    {
        foreach (var entry in _entries)
        {
            entry.ReloadIfChanged(_logger);
        }

        if (!string.IsNullOrEmpty(serverName))
        {
            foreach (var entry in _entries)
            {
                if (entry.Matches(serverName))
                {
                    return entry.Context!;
                }
            }
        }

        return _entries[0].Context!;
    }

    /// <summary>The certificate in use for <paramref name="serverName"/> (tests and diagnostics).</summary>
    public X509Certificate2 Current(string? serverName) => Select(serverName).TargetCertificate;

    private sealed class Entry(CertificateFileSettings files)
    {
        private readonly Lock _lock = new();
        private (DateTime Certificate, DateTime Key) _stamp;
        private string[] _names = [];

        public SslStreamCertificateContext? Context { get; private set; }

        public bool Matches(string serverName)
        {
            foreach (var name in _names)
            {
                if (name.Equals(serverName, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }

                // RFC 6125 §6.4.3: "*.example.org" covers exactly one more label.
                if (name.StartsWith("*.", StringComparison.Ordinal))
                {
                    var dot = serverName.IndexOf('.', StringComparison.Ordinal);
                    if (dot > 0 && serverName.AsSpan(dot).Equals(name.AsSpan(1), StringComparison.OrdinalIgnoreCase))
                    {
                        return true;
                    }
                }
            }

            return false;
        }

        public void ReloadIfChanged(ILogger logger)
        {
            if (Stamp() != _stamp)
            {
                Reload(logger, throwOnError: false);
            }
        }

        public void Reload(ILogger logger, bool throwOnError)
        {
            lock (_lock)
            {
                var stamp = Stamp();
                if (Context is not null && stamp == _stamp)
                {
                    return;
                }

                try
                {
                    var loaded = CertificateLoader.Load(files);
                    Context = SslStreamCertificateContext.Create(loaded.Certificate, loaded.Intermediates, offline: true);
                    _names = Names(loaded.Certificate);
                    TlsLog.CertificateLoaded(logger, files.CertificatePath, loaded.Certificate.Subject, string.Join(',', _names), loaded.Certificate.NotAfter.ToUniversalTime());
                }
                catch (Exception ex) when (!throwOnError && ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
                {
                    // Often a renewal half written (certificate replaced, key not yet): the next
                    // change of either file tries again.
                    TlsLog.CertificateReloadFailed(logger, files.CertificatePath, ex);
                }

                _stamp = stamp;
            }
        }

        private (DateTime, DateTime) Stamp() =>
            (File.GetLastWriteTimeUtc(files.CertificatePath), files.KeyPath is null ? default : File.GetLastWriteTimeUtc(files.KeyPath));

        private static string[] Names(X509Certificate2 certificate)
        {
            var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
                .SelectMany(e => e.EnumerateDnsNames())
                .ToList();
            if (names.Count == 0)
            {
                var cn = certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false);
                if (!string.IsNullOrEmpty(cn))
                {
                    names.Add(cn);
                }
            }

            return [.. names];
        }
    }
}
