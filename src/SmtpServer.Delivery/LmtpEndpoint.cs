using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace SmtpServer.Delivery;

/// <summary>Where an LMTP server listens: <c>host:port</c>, <c>[ipv6]:port</c>, <c>unix:/path</c> or <c>/path</c>.</summary>
internal static class LmtpEndpoint
{
    public static EndPoint Parse(string address)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        if (address.StartsWith("unix:", StringComparison.Ordinal))
        {
            return Unix(address["unix:".Length..], address);
        }

        if (address.StartsWith('/'))
        {
            return Unix(address, address);
        }

        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port == 0)
        {
            // LMTP has no well-known port (RFC 2033 §5 forbids 25), so one is required, as in OpenSMTPD.
            throw new ArgumentException($"lmtp address \"{address}\": expected host:port, [ipv6]:port or unix:/path.", nameof(address));
        }

        var host = address[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
            return IPAddress.TryParse(host, out var v6) ? new IPEndPoint(v6, port) : throw new ArgumentException($"lmtp address \"{address}\": bad IPv6 literal.", nameof(address));
        }

        return IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port);
    }

    private static UnixDomainSocketEndPoint Unix(string path, string address) =>
        Path.IsPathFullyQualified(path) ? new UnixDomainSocketEndPoint(path) : throw new ArgumentException($"lmtp address \"{address}\": the socket path must be absolute.", nameof(address));

    public static Socket CreateSocket(EndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint is UnixDomainSocketEndPoint)
        {
            return new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        }

        var socket = endPoint is IPEndPoint ip ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) : new Socket(SocketType.Stream, ProtocolType.Tcp);

        // Without it the final "." waits for a delayed ACK: ~40 ms per message (DESIGN.md decision 9).
        socket.NoDelay = true;
        return socket;
    }
}
