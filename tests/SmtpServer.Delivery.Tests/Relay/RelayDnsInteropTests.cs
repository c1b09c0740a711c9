using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Dns;
using SmtpServer.Delivery.Relay;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// MX routing failures through a real DNS server (dnsmasq, authoritative for .test): NXDOMAIN,
/// null MX (RFC 7505), an MX named localhost and an MX that resolves to our own listener are
/// permanent; an MX host without an address and a DNS server that never answers are
/// temporary (REFERENCE.md §1.4). No SMTP connection is made in any of them. dnsmasq is
/// installed by .ci/run; missing, these tests fail.
/// </summary>
public sealed class RelayDnsInteropTests : IDisposable
{
    private static readonly string[] Records =
    [
        "--mx-host=nullmx.test,.,0",
        "--mx-host=localmx.test,localhost,10",
        "--mx-host=loop.test,mx.loop.test,10",
        "--host-record=mx.loop.test,127.0.0.1",
        "--mx-host=dangling.test,mx.nowhere.test,10",
    ];

    private readonly TempDirectory _dir = new("relay-dns");

    public void Dispose() => _dir.Dispose();

    private static RelayAgent Agent(int dnsPort, int mxPort, IReadOnlyList<IPEndPoint>? local = null) =>
        new("relay", new RelayAgentOptions
        {
            HeloName = "mx.us.test",
            DnsServers = [new IPEndPoint(IPAddress.Loopback, dnsPort)],
            DnsTimeout = TimeSpan.FromSeconds(1),
            MxPort = mxPort,
            LocalEndPoints = local ?? [],
            ConnectTimeout = TimeSpan.FromSeconds(5),
            CommandTimeout = TimeSpan.FromSeconds(5),
        }, TimeProvider.System, NullLogger<RelayAgent>.Instance);

    private async Task<IReadOnlyList<DeliveryResult>> DeliverAsync(RelayAgent agent, string domain)
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        return await agent.DeliverAsync(TestMessages.Request(message, $"alice@{domain}", $"bob@{domain}"), default);
    }

    [Theory]
    [InlineData("nx.test", "5.1.2", "Domain does not exist")]
    [InlineData("nullmx.test", "5.1.10", "Domain does not accept mail (null MX)")]
    [InlineData("localmx.test", "5.4.6", "Domain does not accept mail (MX is localhost)")]
    public async Task Permanent_dns_answers_bounce_every_recipient(string domain, string status, string diagnostic)
    {
        var (dns, dnsPort) = await Dnsmasq.StartAsync(Records);
        await using (dns)
        {
            // Something listening where a wrong route would connect: it must never be used.
            var sink = new TcpListener(IPAddress.Loopback, 0);
            sink.Start();
            try
            {
                await using var agent = Agent(dnsPort, ((IPEndPoint)sink.LocalEndpoint).Port);
                var results = await DeliverAsync(agent, domain);
                Assert.All(results, r => Assert.Equal(DeliveryStatus.PermanentFailure, r.Status));
                Assert.All(results, r => Assert.Equal(status, r.EnhancedStatus));
                Assert.All(results, r => Assert.Equal(diagnostic, r.Diagnostic));
                Assert.Equal(0, agent.ConnectionsOpened);
                Assert.False(sink.Pending());
            }
            finally
            {
                sink.Stop();
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_mx_resolving_to_our_own_listener_is_a_permanent_loop(bool wildcardListener)
    {
        var (dns, dnsPort) = await Dnsmasq.StartAsync(Records);
        await using (dns)
        {
            // Our own listener, on the port MX hosts are contacted on; the MX resolves to 127.0.0.1.
            var ours = new TcpListener(IPAddress.Loopback, 0);
            ours.Start();
            try
            {
                var port = ((IPEndPoint)ours.LocalEndpoint).Port;
                var address = wildcardListener ? IPAddress.Any : IPAddress.Loopback;
                await using var agent = Agent(dnsPort, port, [new IPEndPoint(address, port)]);
                var results = await DeliverAsync(agent, "loop.test");
                Assert.All(results, r => Assert.Equal(DeliveryStatus.PermanentFailure, r.Status));
                Assert.All(results, r => Assert.Equal("5.4.6", r.EnhancedStatus));
                Assert.All(results, r => Assert.StartsWith("Loop detected", r.Diagnostic, StringComparison.Ordinal));
                Assert.Equal(0, agent.ConnectionsOpened);
                Assert.False(ours.Pending());
            }
            finally
            {
                ours.Stop();
            }
        }
    }

    [Fact]
    public async Task An_mx_host_without_an_address_is_temporary()
    {
        var (dns, dnsPort) = await Dnsmasq.StartAsync(Records);
        await using (dns)
        {
            await using var agent = Agent(dnsPort, Dnsmasq.FreePort(SocketType.Stream));
            var results = await DeliverAsync(agent, "dangling.test");
            Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
            Assert.All(results, r => Assert.Equal("4.4.4", r.EnhancedStatus));
            Assert.Contains("No valid route to remote MX", results[0].Diagnostic, StringComparison.Ordinal);
            Assert.Contains("mx.nowhere.test", results[0].Diagnostic, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_domain_with_many_mx_hosts_resolves_only_the_best_ten_and_ten_addresses_each()
    {
        // 15 MX hosts (preference 1..15, each with an address) and one host with 15 addresses
        // (from a hosts file: dnsmasq answers all of a name's lines).
        var hosts = _dir.Combine("hosts");
        await File.WriteAllLinesAsync(hosts, Enumerable.Range(1, 15).Select(i => $"127.0.1.{i} wide.test"));
        string[] records =
        [
            .. Enumerable.Range(1, 15).SelectMany(i => new[] { $"--mx-host=many.test,mx{i:D2}.many.test,{i}", $"--host-record=mx{i:D2}.many.test,127.0.0.{i}" }),
            "--mx-host=wide.test,wide.test,10",
            "--addn-hosts=" + hosts,
        ];
        var (dns, dnsPort) = await Dnsmasq.StartAsync(records);
        await using (dns)
        {
            var client = new DnsResolver([new IPEndPoint(IPAddress.Loopback, dnsPort)], TimeSpan.FromSeconds(2), hostsPath: null);
            Assert.Equal(15, (await client.AddressesAsync("wide.test", AddressFamily.InterNetwork, default)).Records.Count);
            var resolver = new RouteResolver(new RelayAgentOptions
            {
                HeloName = "mx.us.test",
                Dns = client,
                Family = AddressFamilyPreference.IPv4,
            });

            var many = await resolver.ResolveDomainAsync("many.test", default);
            Assert.Null(many.Failure);
            Assert.Equal(Enumerable.Range(1, 10).Select(i => $"mx{i:D2}.many.test"), many.Targets.Select(t => t.HostName));

            var wide = await resolver.ResolveDomainAsync("wide.test", default);
            Assert.Null(wide.Failure);
            Assert.Equal(RouteResolver.MaxAddressesPerHost, wide.Targets.Count);
            Assert.All(wide.Targets, t => Assert.Equal("wide.test", t.HostName));
        }
    }

    [Fact]
    public async Task A_dns_server_that_never_answers_is_a_bounded_temporary_failure()
    {
        // A UDP socket that receives the queries and never replies.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)silent.LocalEndPoint!).Port;
        await using var agent = Agent(port, Dnsmasq.FreePort(SocketType.Stream));
        var clock = Stopwatch.StartNew();
        var results = await DeliverAsync(agent, "dest.test");
        clock.Stop();

        Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
        Assert.All(results, r => Assert.Equal("4.4.3", r.EnhancedStatus));
        Assert.StartsWith("Temporary failure in MX lookup", results[0].Diagnostic, StringComparison.Ordinal);
        Assert.True(silent.Available > 0, "the query never reached the silent server");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        Assert.Equal(0, agent.ConnectionsOpened);
    }
}
