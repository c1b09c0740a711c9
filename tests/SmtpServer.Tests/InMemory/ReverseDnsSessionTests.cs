using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using SmtpServer.Core.Dns;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.InMemory;

/// <summary>
/// The session's reverse lookup against a DNS server that never answers (a real UDP socket that
/// reads queries and stays silent, asked by the real resolver): the banner does not wait for it,
/// the lookup is bounded, and the client is then "unknown". The names themselves come from a
/// real dnsmasq in Interop/ReverseDnsInteropTests.
/// </summary>
public sealed class ReverseDnsSessionTests : IDisposable
{
    private static readonly IPAddress Client = IPAddress.Parse("127.0.0.2");
    private readonly UdpClient _silentDns = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly CollectingLogger<ReverseDnsSessionTests> _log = new();

    public void Dispose() => _silentDns.Dispose();

    private InMemorySmtpServer Server(bool reverseLookup, TimeSpan bound, TimeProvider? time = null, TimeSpan? queryTimeout = null, RuleRouter? router = null)
    {
        var factory = new SingleLoggerFactory(_log);
        var dns = new DnsResolver([(IPEndPoint)_silentDns.Client.LocalEndPoint!], queryTimeout ?? bound, hostsPath: null);
        return new InMemorySmtpServer(
            s => s with { ReverseLookup = reverseLookup, ReverseLookupTimeout = bound, Router = router ?? s.Router }, time, factory, dns: dns);
    }

    /// <summary>The next query the silent server got, as text (labels joined by dots), or null after <paramref name="wait"/>.</summary>
    private async Task<string?> NextQueryAsync(TimeSpan wait)
    {
        using var cancel = new CancellationTokenSource(wait);
        try
        {
            var received = await _silentDns.ReceiveAsync(cancel.Token);
            var labels = new List<string>();
            for (var i = 12; i < received.Buffer.Length && received.Buffer[i] != 0; i += received.Buffer[i] + 1)
            {
                labels.Add(System.Text.Encoding.ASCII.GetString(received.Buffer, i + 1, received.Buffer[i]));
            }

            return string.Join('.', labels);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Connects from <see cref="Client"/> and gets as far as MAIL.</summary>
    private static async Task<SmtpTestClient> BeginAsync(InMemorySmtpServer server)
    {
        var c = server.Connect(Client);
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@client.test>")).Code);
        return c;
    }

    /// <summary>After an accepted RCPT: the message, QUIT, and the end of the session.</summary>
    private static async Task FinishAsync(InMemorySmtpServer server, SmtpTestClient c)
    {
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: x\r\n\r\nbody\r\n.")).Code);
        Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);
        await server.WaitForSessionsAsync();
    }

    private IEnumerable<LogEntry> ReverseDnsLog() => _log.Entries.Where(e => e.EventId.Name?.StartsWith("SmtpReverseDns", StringComparison.Ordinal) == true);

    [Fact]
    public async Task The_banner_does_not_wait_for_the_lookup()
    {
        // A bound no test waits out: the banner must come long before it.
        await using var server = Server(reverseLookup: true, TimeSpan.FromMinutes(1));
        await using var c = server.Connect(Client);
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);

        // The lookup was under way meanwhile, and still is.
        Assert.Equal("2.0.0.127.in-addr.arpa", await NextQueryAsync(TimeSpan.FromSeconds(10)));
        Assert.Empty(ReverseDnsLog());
        Assert.Equal(250, (await c.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);

        // The session's end ends its lookup: nothing is logged for it later.
        await server.WaitForSessionsAsync();
        Assert.Empty(ReverseDnsLog());
    }

    [Fact]
    public async Task A_silent_dns_server_costs_at_most_the_bound_and_the_client_is_unknown()
    {
        // The bound runs on the session's clock; each query's own timeout is far beyond it.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var bound = TimeSpan.FromSeconds(5);
        await using var server = Server(reverseLookup: true, bound, time, queryTimeout: TimeSpan.FromMinutes(5));
        await using var c = await BeginAsync(server);
        Assert.Equal("2.0.0.127.in-addr.arpa", await NextQueryAsync(TimeSpan.FromSeconds(10)));

        // RCPT's rules need the name: it waits for the lookup, and no longer than the bound.
        var rcpt = c.CommandAsync("RCPT TO:<user@example.org>");
        await Task.Delay(200);
        Assert.False(rcpt.IsCompleted, "RCPT was answered before the lookup ended");
        time.Advance(bound);
        Assert.Equal(250, (await rcpt).Code);
        await FinishAsync(server, c);

        var stored = Assert.Single(server.Committed());
        Assert.StartsWith("Received: from client.test (unknown [127.0.0.2])\r\n", await File.ReadAllTextAsync(stored.MessagePath), StringComparison.Ordinal);
        Assert.Null(Assert.Single(stored.Envelopes).ClientHostName);
        var logged = Assert.Single(ReverseDnsLog());
        Assert.Contains("address=127.0.0.2 host=<unknown> result=TimedOut", logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_lookup_makes_an_rdns_rule_answer_451_never_a_rejection()
    {
        // An MX that refuses clients without a name: a DNS outage of ours must not turn into
        // 550s that bounce good mail at the sender (RFC 7372 §3.3: X.7.25, temporary here).
        var router = new RuleRouter(
        [
            Rule.Reject(new NotCondition(new RdnsCondition(null)), AnyCondition.Instance, new SmtpReply(550, "5.7.25", "Client host rejected: no reverse DNS")),
            Rule.Deliver(AnyCondition.Instance, AnyCondition.Instance, "local"),
        ]);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var bound = TimeSpan.FromSeconds(5);
        await using var server = Server(reverseLookup: true, bound, time, queryTimeout: TimeSpan.FromMinutes(5), router);
        await using var c = await BeginAsync(server);
        Assert.Equal("2.0.0.127.in-addr.arpa", await NextQueryAsync(TimeSpan.FromSeconds(10)));

        var rcpt = c.CommandAsync("RCPT TO:<user@example.org>");
        await Task.Delay(200);
        time.Advance(bound);
        var reply = await rcpt;
        Assert.Equal((451, "4.7.25"), (reply.Code, reply.Status));
        Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);
        await server.WaitForSessionsAsync();
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task A_failed_lookup_does_not_matter_to_rules_that_do_not_ask_for_the_name()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var bound = TimeSpan.FromSeconds(5);
        await using var server = Server(reverseLookup: true, bound, time, queryTimeout: TimeSpan.FromMinutes(5));
        await using var c = await BeginAsync(server);
        Assert.Equal("2.0.0.127.in-addr.arpa", await NextQueryAsync(TimeSpan.FromSeconds(10)));
        var rcpt = c.CommandAsync("RCPT TO:<user@blocked.example>");
        await Task.Delay(200);
        time.Advance(bound);
        Assert.Equal(550, (await rcpt).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<user@example.org>")).Code);
        await FinishAsync(server, c);
    }

    [Fact]
    public async Task With_reverse_lookup_off_no_query_is_sent()
    {
        await using var server = Server(reverseLookup: false, TimeSpan.FromSeconds(5));
        await using var c = await BeginAsync(server);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<user@example.org>")).Code);
        await FinishAsync(server, c);
        Assert.StartsWith("Received: from client.test (unknown [127.0.0.2])\r\n", await File.ReadAllTextAsync(Assert.Single(server.Committed()).MessagePath), StringComparison.Ordinal);
        Assert.Null(await NextQueryAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Empty(ReverseDnsLog());
    }
}
