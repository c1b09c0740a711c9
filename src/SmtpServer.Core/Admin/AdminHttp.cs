using System.Net.Sockets;

namespace SmtpServer.Core.Admin;

/// <summary>HTTP over admin.socket: what smtpctl (and the tests) use to reach a running server.</summary>
internal static class AdminHttp
{
    /// <summary>A client whose every connection goes to the Unix socket at <paramref name="socketPath"/>.</summary>
    public static HttpClient CreateClient(string socketPath, TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            UseProxy = false,
            AllowAutoRedirect = false,
        };
        return new HttpClient(handler, disposeHandler: true)
        {
            BaseAddress = new Uri("http://smtpd/"),
            Timeout = timeout ?? TimeSpan.FromSeconds(30),
        };
    }
}
