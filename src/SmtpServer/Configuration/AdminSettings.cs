using System.Net;

namespace SmtpServer.Configuration;

/// <summary>admin: the smtpctl socket and the optional HTTP endpoint (/metrics, /healthz, /readyz).</summary>
internal sealed record AdminSettings
{
    /// <summary>Absolute path of the Unix socket smtpctl talks to, or null for none.</summary>
    public string? SocketPath { get; init; }

    /// <summary>admin.http, or null for none.</summary>
    public IPEndPoint? HttpEndPoint { get; init; }
}
