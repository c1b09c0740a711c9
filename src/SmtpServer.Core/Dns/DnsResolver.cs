using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;

namespace SmtpServer.Core.Dns;

/// <summary>
/// The process's one DNS client, built from <c>dns.servers</c> (empty: the system's resolvers):
/// the relay's MX and address lookups and the sessions' reverse lookups share it. No cache
/// (the resolver in front of us has one); DNS errors come back as answers, not exceptions.
/// </summary>
internal sealed class DnsResolver : IDnsResolver
{
    /// <summary>Each try of a query; one retry.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    private readonly Lazy<LookupClient> _client;

    public DnsResolver(IReadOnlyList<IPEndPoint> servers, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(servers);

        // Made at the first query: reading the system's resolvers must not stop a server that
        // never asks DNS anything (local delivery only, dns.reverseLookup: false).
        _client = new Lazy<LookupClient>(() =>
        {
            var options = servers.Count > 0 ? new LookupClientOptions([.. servers]) : new LookupClientOptions();
            options.UseCache = false;
            options.Timeout = timeout ?? DefaultTimeout;
            options.Retries = 1;
            options.ThrowDnsErrors = false;
            options.ContinueOnDnsError = false;
            options.UseTcpFallback = true;
            return new LookupClient(options);
        });
    }

    /// <summary>For queries this type has no method for (MX).</summary>
    public IDnsQuery Client => _client.Value;

    public async Task<DnsAnswer<string>> ReverseAsync(IPAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        return await QueryAsync<string>(
            address.GetArpaName(),
            QueryType.PTR,
            answers => [.. answers.PtrRecords().Select(r => r.PtrDomainName.Value.TrimEnd('.')).Where(n => n.Length > 0)],
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<DnsAnswer<IPAddress>> AddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        var type = family == AddressFamily.InterNetworkV6 ? QueryType.AAAA : QueryType.A;
        return await QueryAsync<IPAddress>(host, type, answers => [.. answers.OfType<AddressRecord>().Select(r => r.Address)], cancellationToken).ConfigureAwait(false);
    }

    private async Task<DnsAnswer<T>> QueryAsync<T>(
        string name, QueryType type, Func<IReadOnlyCollection<DnsResourceRecord>, IReadOnlyList<T>> select, CancellationToken cancellationToken)
    {
        IDnsQueryResponse response;
        try
        {
            response = await Client.QueryAsync(name, type, QueryClass.IN, cancellationToken).ConfigureAwait(false);
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
