using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using DnsClient;
using SmtpServer.Core.Dns;

namespace SmtpServer.Delivery.Relay;

/// <summary>One address to try, with the host name it came from (for logs, TLS names and Remote-MTA).</summary>
internal sealed record RouteTarget(string HostName, IPAddress Address, int Port)
{
    public IPEndPoint EndPoint => new(Address, Port);

    /// <summary>OpenSMTPD's <c>relay=host [ip]</c>.</summary>
    public override string ToString() => $"{HostName} [{Address}]";
}

/// <summary>The ordered addresses for a destination, or why there are none.</summary>
internal sealed record RouteResolution(IReadOnlyList<RouteTarget> Targets, DeliveryFailure? Failure);

/// <summary>An MX record as the routing logic sees it.</summary>
internal sealed record MxHost(string Name, int Preference);

/// <summary>
/// Turns a destination into addresses to try: MX by preference (random among equals), implicit
/// MX, null MX (RFC 7505), loops back to us, NXDOMAIN versus temporary DNS failures
/// (REFERENCE.md §1.4, OpenSMTPD's mta_on_mx), the address family preference. The DNS client is
/// the process's shared one (dns.servers, so tests can use a local dnsmasq).
/// </summary>
internal sealed class RouteResolver
{
    /// <summary>
    /// MX hosts tried at most (the best by preference): a hostile domain can list thousands (TCP
    /// fallback), each costs an A and an AAAA query.
    /// </summary>
    public const int MaxMxHosts = 10;

    /// <summary>Addresses kept per MX host (after the family order): each may cost a connection attempt.</summary>
    public const int MaxAddressesPerHost = 10;

    private readonly DnsResolver _dns;
    private readonly RelayAgentOptions _options;
    private readonly Random _random;

    public RouteResolver(RelayAgentOptions options, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _random = random ?? Random.Shared;
        _dns = options.Dns ?? new DnsResolver(options.DnsServers, options.DnsTimeout);
    }

    /// <summary>Addresses of the smarthost (a literal, or its A/AAAA records); failures are temporary.</summary>
    public async Task<RouteResolution> ResolveHostAsync(string host, int port, CancellationToken cancellationToken)
    {
        var (addresses, failure) = await AddressesAsync(host, cancellationToken).ConfigureAwait(false);
        if (addresses.Count == 0)
        {
            return new RouteResolution([], new DeliveryFailure(true, "4.4.4", $"Host not found: {host} ({failure ?? "no address"})"));
        }

        return new RouteResolution([.. addresses.Select(a => new RouteTarget(host, a, port))], null);
    }

    /// <summary>The MX route of a recipient domain.</summary>
    public async Task<RouteResolution> ResolveDomainAsync(string domain, CancellationToken cancellationToken)
    {
        if (domain.StartsWith('[') && domain.EndsWith(']'))
        {
            // An address literal (RFC 5321 §4.1.3): no MX lookup.
            var literal = domain[1..^1];
            if (literal.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            {
                literal = literal[5..];
            }

            return IPAddress.TryParse(literal, out var address)
                ? CheckLoops([new RouteTarget(domain, address, _options.MxPort)])
                : new RouteResolution([], new DeliveryFailure(false, "5.1.2", "Invalid domain name"));
        }

        IDnsQueryResponse response;
        try
        {
            response = await _dns.Client.QueryAsync(domain, QueryType.MX, QueryClass.IN, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException e)
        {
            return new RouteResolution([], new DeliveryFailure(true, "4.4.3", $"Temporary failure in MX lookup ({Describe(e)})"));
        }

        if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
        {
            return new RouteResolution([], new DeliveryFailure(false, "5.1.2", "Domain does not exist"));
        }

        if (response.HasError)
        {
            return new RouteResolution([], new DeliveryFailure(true, "4.4.3", $"Temporary failure in MX lookup ({response.Header.ResponseCode})"));
        }

        var records = response.Answers.MxRecords().Select(r => new MxHost(r.Exchange.Value, r.Preference)).ToList();
        var (hosts, failure) = Order(domain, records, _random);
        if (failure is not null)
        {
            return new RouteResolution([], failure);
        }

        var targets = new List<(RouteTarget Target, int Preference)>();
        var errors = new List<string>();
        foreach (var host in hosts)
        {
            var (addresses, error) = await AddressesAsync(host.Name, cancellationToken).ConfigureAwait(false);
            if (error is not null)
            {
                errors.Add($"{host.Name}: {error}");
            }

            targets.AddRange(addresses.Take(MaxAddressesPerHost).Select(a => (new RouteTarget(host.Name, a, _options.MxPort), host.Preference)));
        }

        if (targets.Count == 0)
        {
            return new RouteResolution([], new DeliveryFailure(true, "4.4.4", $"No valid route to remote MX ({string.Join("; ", errors.DefaultIfEmpty("no address"))})"));
        }

        // RFC 5321 §5.1: if we are one of the MX hosts, only hosts with a better preference may
        // be used; none left is a loop.
        var local = LocalAddressesOnce();
        var ours = targets.Where(t => IsUs(t.Target.EndPoint, local)).Select(t => t.Preference).DefaultIfEmpty(int.MaxValue).Min();
        var usable = targets.Where(t => t.Preference < ours).Select(t => t.Target).ToList();
        return usable.Count == 0
            ? new RouteResolution([], new DeliveryFailure(false, "5.4.6", "Loop detected: the MX of " + domain + " points back at this server"))
            : new RouteResolution(usable, null);
    }

    /// <summary>
    /// MX records in trying order: by preference, shuffled among equals, the first
    /// <see cref="MaxMxHosts"/> only; the domain itself when there are none (implicit MX); a null
    /// MX or an MX named localhost is permanent.
    /// </summary>
    public static (IReadOnlyList<MxHost> Hosts, DeliveryFailure? Failure) Order(string domain, IReadOnlyList<MxHost> records, Random random)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(random);
        if (records.Count == 0)
        {
            return ([new MxHost(domain, 0)], null);
        }

        var normalized = records.Select(r => r with { Name = r.Name.TrimEnd('.') }).ToList();
        if (normalized.Any(r => r.Name.Length == 0))
        {
            // RFC 7505: "MX 0 ." says the domain accepts no mail.
            return ([], new DeliveryFailure(false, "5.1.10", "Domain does not accept mail (null MX)"));
        }

        if (normalized.Any(r => r.Name.Equals("localhost", StringComparison.OrdinalIgnoreCase)))
        {
            return ([], new DeliveryFailure(false, "5.4.6", "Domain does not accept mail (MX is localhost)"));
        }

        var ordered = normalized
            .GroupBy(r => r.Preference)
            .OrderBy(g => g.Key)
            .SelectMany(g => g.OrderBy(_ => random.Next()))
            .Take(MaxMxHosts)
            .ToList();
        return (ordered, null);
    }

    /// <summary>Orders addresses by the family preference (Any: IPv6 first, as RFC 6724 would).</summary>
    public static IReadOnlyList<IPAddress> ApplyFamily(IEnumerable<IPAddress> addresses, AddressFamilyPreference family)
    {
        var list = addresses.ToList();
        var v4 = list.Where(a => a.AddressFamily == AddressFamily.InterNetwork);
        var v6 = list.Where(a => a.AddressFamily == AddressFamily.InterNetworkV6);
        return family switch
        {
            AddressFamilyPreference.IPv4 => [.. v4],
            AddressFamilyPreference.IPv6 => [.. v6],
            AddressFamilyPreference.PreferIPv4 => [.. v4, .. v6],
            _ => [.. v6, .. v4],
        };
    }

    private RouteResolution CheckLoops(IReadOnlyList<RouteTarget> targets)
    {
        var local = LocalAddressesOnce();
        return targets.Any(t => IsUs(t.EndPoint, local))
            ? new RouteResolution([], new DeliveryFailure(false, "5.4.6", "Loop detected: the destination is this server"))
            : new RouteResolution(targets, null);
    }

    /// <summary>
    /// True when <paramref name="endPoint"/> is one this server listens on. <paramref name="localAddresses"/>:
    /// the host's addresses, enumerated at most once per resolution (only for a wildcard listener).
    /// </summary>
    private bool IsUs(IPEndPoint endPoint, Lazy<HashSet<IPAddress>> localAddresses)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        foreach (var local in _options.LocalEndPoints)
        {
            if (local.Port != endPoint.Port)
            {
                continue;
            }

            if (local.Address.Equals(endPoint.Address))
            {
                return true;
            }

            if ((local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any))
                && (IPAddress.IsLoopback(endPoint.Address) || localAddresses.Value.Contains(endPoint.Address)))
            {
                return true;
            }
        }

        return false;
    }

    private static Lazy<HashSet<IPAddress>> LocalAddressesOnce() => new(LocalAddresses, LazyThreadSafetyMode.None);

    private static HashSet<IPAddress> LocalAddresses()
    {
        try
        {
            return [.. NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(u => u.Address)];
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }

    private async Task<(IReadOnlyList<IPAddress> Addresses, string? Error)> AddressesAsync(string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return (ApplyFamily([literal], _options.Family), null);
        }

        var found = new List<IPAddress>();
        string? error = null;
        var families = _options.Family switch
        {
            AddressFamilyPreference.IPv4 => new[] { AddressFamily.InterNetwork },
            AddressFamilyPreference.IPv6 => [AddressFamily.InterNetworkV6],
            _ => [AddressFamily.InterNetwork, AddressFamily.InterNetworkV6],
        };
        foreach (var family in families)
        {
            var answer = await _dns.AddressesAsync(host, family, cancellationToken).ConfigureAwait(false);
            error = answer.Error ?? error;
            found.AddRange(answer.Records);
        }

        return (ApplyFamily(found, _options.Family), found.Count == 0 ? error : null);
    }

    private static string Describe(DnsResponseException e) => e.Code.ToString();
}
