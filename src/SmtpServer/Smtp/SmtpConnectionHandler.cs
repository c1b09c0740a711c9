using Microsoft.AspNetCore.Connections;
using SmtpServer.Configuration;

namespace SmtpServer.Smtp;

/// <summary>
/// The end of each listener's connection-middleware chain: speaks SMTP and nothing else
/// (STYLE.md §9.5). "When the task completes, the connection is complete."
/// </summary>
internal sealed class SmtpConnectionHandler(ListenerSettings listener, SmtpServices services) : ConnectionHandler
{
    /// <summary>The listener's certificates, credentials and AUTH throttle, shared by its sessions.</summary>
    public ListenerSecurity Security { get; } = ListenerSecurity.Create(listener, services);

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        using var session = new SmtpSession(connection, listener, services, Security);
        await session.RunAsync().ConfigureAwait(false);
        await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
        await connection.Transport.Input.CompleteAsync().ConfigureAwait(false);
    }
}
