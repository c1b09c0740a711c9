using Microsoft.Extensions.Logging;

namespace SmtpServer.Tls;

/// <summary>TLS events: handshakes and certificate reloads. Event ids 1200-1229 (STYLE.md §9.6).</summary>
internal static partial class TlsLog
{
    [LoggerMessage(1200, LogLevel.Information, "{SessionId} smtp tls protocol={Protocol} cipher={Cipher} sni={Sni} client-cert={ClientCertificate}", EventName = "SmtpTls")]
    public static partial void Established(ILogger logger, string sessionId, string protocol, string cipher, string sni, string clientCertificate);

    [LoggerMessage(1201, LogLevel.Warning, "{SessionId} smtp tls handshake failed address={Address} reason={Reason}", EventName = "SmtpTlsHandshakeFailed")]
    public static partial void HandshakeFailed(ILogger logger, string sessionId, string address, string reason);

    [LoggerMessage(1202, LogLevel.Information, "tls certificate loaded path={Path} subject={Subject} names={Names} expires={NotAfter:O}", EventName = "TlsCertificateLoaded")]
    public static partial void CertificateLoaded(ILogger logger, string path, string subject, string names, DateTime notAfter);

    [LoggerMessage(1203, LogLevel.Error, "tls certificate reload failed path={Path}; keeping the previous certificate", EventName = "TlsCertificateReloadFailed")]
    public static partial void CertificateReloadFailed(ILogger logger, string path, Exception exception);
}
