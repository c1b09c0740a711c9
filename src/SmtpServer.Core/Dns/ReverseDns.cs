using System.Net;
using SmtpServer.Core.Routing;

namespace SmtpServer.Core.Dns;

/// <summary>How a client's reverse lookup ended.</summary>
internal enum ReverseDnsStatus
{
    /// <summary>A PTR name whose addresses include the client's: the name is trusted.</summary>
    Confirmed,

    /// <summary>No PTR record (NXDOMAIN or NODATA), or none that is a host name.</summary>
    NoName,

    /// <summary>PTR names exist, but none resolves back to the client's address (a forged or stale PTR).</summary>
    Unconfirmed,

    /// <summary>SERVFAIL, REFUSED or an unreachable server on the way.</summary>
    TemporaryFailure,

    /// <summary>The whole lookup took longer than its bound.</summary>
    TimedOut,
}

/// <param name="Name">The trusted name (only with <see cref="ReverseDnsStatus.Confirmed"/>).</param>
/// <param name="Unconfirmed">A PTR name that did not resolve back to the client, for the log only.</param>
/// <param name="Error">The DNS response code of a failure, for the log only.</param>
internal sealed record ReverseDnsResult(ReverseDnsStatus Status, string? Name = null, string? Unconfirmed = null, string? Error = null)
{
    public static readonly ReverseDnsResult NoName = new(ReverseDnsStatus.NoName);

    public static readonly ReverseDnsResult TimedOut = new(ReverseDnsStatus.TimedOut);
}

/// <summary>
/// Forward-confirmed reverse DNS (FCrDNS, as OpenSMTPD, Postfix and RFC 8601 §3's "iprev" do it):
/// the PTR names of the client's address, then the A or AAAA records of each; a name counts only
/// when those include the client's address, because whoever controls the reverse zone can write
/// any name into a PTR. Anything else (no PTR, a mismatch, a DNS failure, the time bound) gives
/// no name; the session then says "unknown" as OpenSMTPD does.
/// </summary>
internal static class ReverseDns
{
    /// <summary>PTR names checked at most: a reverse zone may list many, each costs a query.</summary>
    public const int MaxNames = 10;

    /// <summary>
    /// Looks up <paramref name="address"/> within <paramref name="timeout"/> (all queries together;
    /// the bound holds even when the resolver ignores cancellation). Throws only when
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public static async Task<ReverseDnsResult> LookupAsync(
        IDnsResolver dns, IPAddress address, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentNullException.ThrowIfNull(address);
        using var queries = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            return await ConfirmAsync(dns, NetworkAddress.Unmap(address), queries.Token).WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return ReverseDnsResult.TimedOut;
        }
        finally
        {
            // Queries still in flight after the bound are abandoned.
            await queries.CancelAsync().ConfigureAwait(false);
        }
    }

    private static async Task<ReverseDnsResult> ConfirmAsync(IDnsResolver dns, IPAddress address, CancellationToken cancellationToken)
    {
        // The operator's own hosts file is trusted as it stands (it is both halves of the
        // lookup); it answers loopback and the container's own addresses without a query.
        if (dns.HostsName(address) is { } listed && DomainName.IsHostName(listed))
        {
            return new ReverseDnsResult(ReverseDnsStatus.Confirmed, listed);
        }

        var ptr = await dns.ReverseAsync(address, cancellationToken).ConfigureAwait(false);
        if (ptr.Status == DnsStatus.TemporaryFailure)
        {
            return new ReverseDnsResult(ReverseDnsStatus.TemporaryFailure, Error: ptr.Error);
        }

        string? unconfirmed = null;
        string? error = null;
        foreach (var ptrName in ptr.Records.Take(MaxNames))
        {
            // The name goes into Received headers, logs and the queue: only host name syntax
            // (RFC 1123 §2.1) is accepted, whatever bytes the reverse zone holds.
            var name = ptrName.TrimEnd('.');
            if (!DomainName.IsHostName(name))
            {
                continue;
            }

            var forward = await dns.ConfirmAddressesAsync(name, address.AddressFamily, cancellationToken).ConfigureAwait(false);
            if (forward.Records.Any(a => NetworkAddress.Unmap(a).Equals(address)))
            {
                return new ReverseDnsResult(ReverseDnsStatus.Confirmed, name);
            }

            unconfirmed ??= name;
            if (forward.Status == DnsStatus.TemporaryFailure)
            {
                error ??= forward.Error;
            }
        }

        if (error is not null)
        {
            return new ReverseDnsResult(ReverseDnsStatus.TemporaryFailure, Unconfirmed: unconfirmed, Error: error);
        }

        return unconfirmed is null ? ReverseDnsResult.NoName : new ReverseDnsResult(ReverseDnsStatus.Unconfirmed, Unconfirmed: unconfirmed);
    }
}
