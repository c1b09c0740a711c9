using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;

namespace SmtpServer.Admin;

/// <summary>
/// Binds the admin API: admin.socket (a Unix socket made 0600 once bound, in a directory we
/// create 0700, so no other user can connect even in between) and admin.http (HTTP/1.1; meant
/// for loopback or a pod network: /v1 calls answer loopback clients only).
/// </summary>
internal static class AdminEndpoints
{
    public static void Listen(KestrelServerOptions kestrel, AdminSettings admin)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(admin);
        if (admin.SocketPath is { } socket)
        {
            PrepareSocket(socket);
            kestrel.ListenUnixSocket(socket, o => o.Protocols = HttpProtocols.Http1);
        }

        if (admin.HttpEndPoint is { } http)
        {
            kestrel.Listen(http, o => o.Protocols = HttpProtocols.Http1);
        }

        kestrel.Limits.MaxRequestBodySize = AdminApi.MaxBodySize;
        kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
    }

    public static void Started(AdminSettings admin, ILogger logger)
    {
        if (admin.SocketPath is { } socket && File.Exists(socket))
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(socket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            AdminLog.Listening(logger, "unix:" + socket);
        }

        if (admin.HttpEndPoint is { } http)
        {
            AdminLog.Listening(logger, "http://" + http);
        }
    }

    public static void Stopped(AdminSettings admin)
    {
        if (admin.SocketPath is { } socket)
        {
            try
            {
                File.Delete(socket);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The next start replaces a stale socket.
            }
        }
    }

    /// <summary>
    /// Creates the socket's directory (0700) and removes a stale socket left by a crash; a
    /// socket someone still answers on means another smtpd runs on this spool: refuse to start.
    /// </summary>
    private static void PrepareSocket(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        if (!File.Exists(path))
        {
            return;
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new InvalidOperationException($"admin.socket {path}: another server is listening there");
            }
            catch (SocketException)
            {
                // Nobody home: a leftover.
            }
        }

        File.Delete(path);
    }
}
