using Microsoft.Extensions.Logging;
using SmtpServer.Auth;
using SmtpServer.Configuration;
using SmtpServer.Tls;

namespace SmtpServer.Smtp;

/// <summary>
/// What one listener's sessions share for TLS and AUTH: the certificates (also used by the
/// implicit-TLS middleware), the credentials table and the per-IP failure throttle.
/// </summary>
internal sealed class ListenerSecurity
{
    public TlsServer? Tls { get; private init; }

    public CredentialTable? Credentials { get; private init; }

    public AuthThrottle? Throttle { get; private init; }

    public static ListenerSecurity Create(ListenerSettings listener, SmtpServices services)
    {
        var logger = services.LoggerFactory.CreateLogger("SmtpServer.Tls");
        CredentialTable? credentials = null;
        AuthThrottle? throttle = null;
        if (listener.Auth is { Mode: not AuthMode.None, CredentialsTable: { } table } auth)
        {
            // The config check guarantees a file table of format credentials; share the compiled one.
            var authLogger = services.LoggerFactory.CreateLogger("SmtpServer.Auth");
            credentials = services.Settings.LookupTables.GetValueOrDefault(table) is Core.Routing.FileTable compiled
                ? new CredentialTable(compiled, authLogger)
                : new CredentialTable(services.Settings.Tables.TryGetValue(table, out var t) && t is FileTableSettings file ? file.Path : table, authLogger);
            throttle = new AuthThrottle(auth.MaxFailures, auth.FailureWindow, auth.Lockout, services.Time);
        }

        return new ListenerSecurity
        {
            Tls = listener.Tls is null ? null : new TlsServer(listener.Tls, logger),
            Credentials = credentials,
            Throttle = throttle,
        };
    }
}
