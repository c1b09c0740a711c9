using System.Net;
using System.Net.Sockets;

namespace SmtpServer.Core.Dns;

/// <summary>What a DNS answer means to the code that decides on it.</summary>
internal enum DnsStatus
{
    /// <summary>The name exists; its records may still be none (NODATA).</summary>
    Ok,

    /// <summary>NXDOMAIN: the name does not exist, a permanent answer (RFC 8020).</summary>
    NotFound,

    /// <summary>SERVFAIL, REFUSED, a timeout, no server reachable: ask again later.</summary>
    TemporaryFailure,
}

/// <summary>The records of one lookup, or why there are none (<see cref="Error"/>: the response code, for logs).</summary>
internal sealed record DnsAnswer<T>(DnsStatus Status, IReadOnlyList<T> Records, string? Error = null);

/// <summary>
/// The lookups the server makes besides MX: addresses of a host and names of an address. The
/// seam the forward-confirmed reverse DNS logic is tested through (<see cref="DnsResolver"/> is
/// the real one).
/// </summary>
internal interface IDnsResolver
{
    /// <summary>The PTR names of <paramref name="address"/> (RFC 1035 §3.5), without the trailing dot.</summary>
    Task<DnsAnswer<string>> ReverseAsync(IPAddress address, CancellationToken cancellationToken);

    /// <summary>The A (IPv4) or AAAA (IPv6) records of <paramref name="host"/>, CNAMEs followed.</summary>
    Task<DnsAnswer<IPAddress>> AddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="AddressesAsync"/> for the forward half of a client's reverse lookup, which a
    /// session waits for: the real resolver asks with the short tries of <see cref="ReverseAsync"/>.
    /// </summary>
    Task<DnsAnswer<IPAddress>> ConfirmAddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken)
        => AddressesAsync(host, family, cancellationToken);

    /// <summary>
    /// The name the hosts file gives <paramref name="address"/>, or null: asked before DNS, as
    /// the system's resolver does ("files dns"; OpenSMTPD's "lookup file bind").
    /// </summary>
    string? HostsName(IPAddress address) => null;
}
