using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;

namespace SmtpServer.Core.Dns;

/// <summary>
/// The process's one DNS client, built from <c>dns.servers</c> (empty: the system's resolvers):
/// the relay's MX and address lookups and the sessions' reverse lookups share it. No cache
/// (the resolver in front of us has one); DNS errors come back as answers, not exceptions.
/// Reverse lookups ask the hosts file first, and DNS with short tries: a session waits for
/// them, and a UDP answer lost on the way (seen here for one query in ten in bursts) must cost
/// a second, not the whole bound (glibc's 5 s try).
/// </summary>
internal sealed class DnsResolver : IDnsResolver
{
    /// <summary>Each try of a query; one retry.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Each try of a reverse lookup's queries; retried until the session's bound (dns.reverseLookupTimeout) ends it.</summary>
    public static readonly TimeSpan ReverseTryTimeout = TimeSpan.FromSeconds(1);

    private readonly Lazy<LookupClient> _client;
    private readonly Lazy<LookupClient> _reverse;
    private readonly HostsFile? _hosts;

    /// <param name="servers">dns.servers; empty: the system's resolvers.</param>
    /// <param name="timeout">Each try of every query (tests); default <see cref="DefaultTimeout"/>, and <see cref="ReverseTryTimeout"/> for reverse lookups.</param>
    /// <param name="hostsPath">The hosts file reverse lookups ask first; null: none.</param>
    public DnsResolver(IReadOnlyList<IPEndPoint> servers, TimeSpan? timeout = null, string? hostsPath = HostsFile.SystemPath)
    {
        ArgumentNullException.ThrowIfNull(servers);
        _hosts = hostsPath is null ? null : new HostsFile(hostsPath);

        // Made at the first query: reading the system's resolvers must not stop a server that
        // never asks DNS anything (local delivery only, dns.reverseLookup: false).
        _client = new Lazy<LookupClient>(() => Create(servers, timeout ?? DefaultTimeout, retries: 1));
        _reverse = new Lazy<LookupClient>(() => Create(servers, timeout ?? ReverseTryTimeout, retries: 4));
    }

    private static LookupClient Create(IReadOnlyList<IPEndPoint> servers, TimeSpan timeout, int retries)
    {
        var options = servers.Count > 0 ? new LookupClientOptions([.. servers]) : new LookupClientOptions();
        options.UseCache = false;
        options.Timeout = timeout;
        options.Retries = retries;
        options.ThrowDnsErrors = false;
        options.ContinueOnDnsError = false;
        options.UseTcpFallback = true;
        return new LookupClient(options);
    }

    /// <summary>For queries this type has no method for (MX).</summary>
    public IDnsQuery Client => _client.Value;

    public async Task<DnsAnswer<string>> ReverseAsync(IPAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        return await QueryAsync<string>(
            _reverse.Value,
            address.GetArpaName(),
            QueryType.PTR,
            answers => [.. answers.PtrRecords().Select(r => r.PtrDomainName.Value.TrimEnd('.')).Where(n => n.Length > 0)],
            cancellationToken).ConfigureAwait(false);
    }

    public Task<DnsAnswer<IPAddress>> AddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken)
        => AddressesAsync(_client.Value, host, family, cancellationToken);

    public Task<DnsAnswer<IPAddress>> ConfirmAddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken)
        => AddressesAsync(_reverse.Value, host, family, cancellationToken);

    private static async Task<DnsAnswer<IPAddress>> AddressesAsync(IDnsQuery client, string host, AddressFamily family, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        var type = family == AddressFamily.InterNetworkV6 ? QueryType.AAAA : QueryType.A;
        return await QueryAsync<IPAddress>(client, host, type, answers => [.. answers.OfType<AddressRecord>().Select(r => r.Address)], cancellationToken).ConfigureAwait(false);
    }

    public string? HostsName(IPAddress address) => _hosts?.NameOf(address);

    private static async Task<DnsAnswer<T>> QueryAsync<T>(
        IDnsQuery client,
        string name, QueryType type, Func<IReadOnlyCollection<DnsResourceRecord>, IReadOnlyList<T>> select, CancellationToken cancellationToken)
    {
        IDnsQueryResponse response;
        try
        {
            response = await client.QueryAsync(name, type, QueryClass.IN, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException e)
        {
            // Timeouts and unreachable servers (DnsClient reports them as exceptions).
            return new DnsAnswer<T>(DnsStatus.TemporaryFailure, [], e.Code.ToString());
        }

        if (response.HasError)
        {
            var code = response.Header.ResponseCode;
            return new DnsAnswer<T>(code == DnsHeaderResponseCode.NotExistentDomain ? DnsStatus.NotFound : DnsStatus.TemporaryFailure, [], code.ToString());
        }

        return new DnsAnswer<T>(DnsStatus.Ok, select(response.Answers));
    }
}
