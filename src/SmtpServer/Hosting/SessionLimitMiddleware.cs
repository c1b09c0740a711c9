using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using SmtpServer.Admin;
using SmtpServer.Metrics;
using SmtpServer.Protocol;
using SmtpServer.Smtp;

namespace SmtpServer.Hosting;

/// <summary>
/// Connection middleware (Kestrel's ConnectionLimitMiddleware is the model): a client over a
/// limit gets 421 at connect and the connection is closed, instead of OpenSMTPD's silent pause
/// of accept() (REFERENCE.md §1.1).
/// </summary>
internal sealed class SessionLimitMiddleware(ConnectionDelegate next, SessionLimiter limiter, string hostname, ILogger logger, ServerControl? control = null, SmtpMetrics? metrics = null)
{
    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var client = Normalize((connection.RemoteEndPoint as IPEndPoint)?.Address);
        if (control is { SmtpPaused: true })
        {
            // smtpctl pause smtp, or drain: RFC 5321 §3.1, 421 at connect; the client retries later.
            SessionLog.Refused(logger, client, control.Draining ? "draining" : "paused");
            metrics?.SessionRefused(control.Draining ? "draining" : "paused");
            SmtpReplyWriter.Write(connection.Transport.Output, new SmtpReply(421, "4.3.2", $"{hostname} Service not accepting mail now, try again later"));
            await connection.Transport.Output.FlushAsync().ConfigureAwait(false);
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            return;
        }

        var result = limiter.TryAcquire(client);
        if (result != LimitResult.Acquired)
        {
            SessionLog.Refused(logger, client, result == LimitResult.TooManySessions ? "max-sessions" : "max-sessions-per-client");
            metrics?.SessionRefused(result == LimitResult.TooManySessions ? "max-sessions" : "max-sessions-per-client");
            var reply = result == LimitResult.TooManySessions
                ? new SmtpReply(421, "4.3.2", $"{hostname} Too many sessions, try again later")
                : new SmtpReply(421, "4.7.0", $"{hostname} Too many sessions from your address, try again later");
            SmtpReplyWriter.Write(connection.Transport.Output, reply);
            await connection.Transport.Output.FlushAsync().ConfigureAwait(false);
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            limiter.Release(client);
        }
    }

    /// <summary>An IPv4 client seen through a dual-stack socket counts as the IPv4 address.</summary>
    private static IPAddress? Normalize(IPAddress? address) =>
        address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
}
