using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery.Relay;
using SmtpServer.Testing;
using static SmtpServer.Delivery.Tests.Relay.RelayPeerScripts;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// relay.host as a list: smarthosts tried in turn within one attempt (the MX fallback path),
/// each with its own route penalty and its own credentials; against scripted peers and
/// loopback addresses where nothing listens.
/// </summary>
public sealed class RelayAgentSmarthostListTests : IDisposable
{
    private readonly TempDirectory _dir = new("relay-smarthosts");

    public void Dispose() => _dir.Dispose();

    private static RelayAgent Agent(IEnumerable<Smarthost> hosts, int maxMessagesPerSession = 100) => new("relay", new RelayAgentOptions
    {
        Hosts = [.. hosts],
        HeloName = Helo,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        CommandTimeout = TimeSpan.FromSeconds(10),
        MaxMessagesPerSession = maxMessagesPerSession,
    }, TimeProvider.System, NullLogger<RelayAgent>.Instance);

    private static Smarthost Plain(string address, int port) => Smarthost.Parse(new Uri($"smtp+notls://{address}:{port}"), out _);

    /// <summary>A port on <paramref name="address"/> (another loopback address than the peers') where nothing listens: connection refused.</summary>
    private static int ClosedPort(string address)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static ScriptedLinePeer AcceptingPeer(ConcurrentQueue<AcceptedMessage> delivered) => new(async c =>
    {
        await GreetAsync(c, "8BITMIME", "PIPELINING");
        await AcceptAllAsync(c, delivered.Enqueue);
    });

    [Fact]
    public async Task The_first_smarthost_down_the_second_gets_the_mail_in_the_same_attempt()
    {
        var delivered = new ConcurrentQueue<AcceptedMessage>();
        await using var second = AcceptingPeer(delivered);
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent([Plain("127.0.0.2", ClosedPort("127.0.0.2")), Plain("127.0.0.1", second.Port)]);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org"), default);

        Assert.All(results, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        Assert.All(results, r => Assert.Equal("127.0.0.1 [127.0.0.1]", r.RemoteMta));
        await agent.DisposeAsync();
        var accepted = Assert.Single(delivered);
        Assert.Equal(["<a@example.org>", "<b@example.org>"], accepted.Recipients);
        Assert.Empty(second.Errors);
    }

    [Theory]
    [InlineData("421 4.3.2 too busy", null)]
    [InlineData("554 5.3.2 no service here", null)]
    [InlineData("220 first ESMTP", "451 4.3.0 not now")]
    public async Task A_refusing_first_smarthost_hands_over_to_the_second_and_only_the_first_is_paused(string greeting, string? ehloReply)
    {
        var delivered = new ConcurrentQueue<AcceptedMessage>();
        await using var first = new ScriptedLinePeer(async c =>
        {
            await c.WriteLineAsync(greeting);
            await c.ReadLineAsync();
            if (ehloReply is not null)
            {
                await c.WriteLineAsync(ehloReply);
                await c.ReadLineAsync();
            }
        });
        await using var second = AcceptingPeer(delivered);
        var message = TestMessages.Write(_dir, TestMessages.Simple);

        // One message per session: the second delivery needs a new connection.
        await using var agent = Agent([Plain("127.0.0.1", first.Port), Plain("127.0.0.1", second.Port)], maxMessagesPerSession: 1);
        var one = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.Delivered, one[0].Status);
        Assert.Equal(1, first.Connections);

        // The first smarthost is paused (its own penalty), so the next attempt goes straight to
        // the second, which is not: it delivers again.
        var two = await agent.DeliverAsync(TestMessages.Request(message, "b@example.org"), default);
        Assert.Equal(DeliveryStatus.Delivered, two[0].Status);
        Assert.Equal(1, first.Connections);
        Assert.Equal(2, second.Connections);
        await agent.DisposeAsync();
        Assert.Equal(2, delivered.Count);
        Assert.Empty(first.Errors);
        Assert.Empty(second.Errors);
    }

    [Fact]
    public async Task All_smarthosts_down_is_a_temporary_failure_naming_the_last_error_then_every_route_is_paused()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent([Plain("127.0.0.2", ClosedPort("127.0.0.2")), Plain("127.0.0.3", ClosedPort("127.0.0.3"))]);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org"), default);
        Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
        Assert.All(results, r => Assert.StartsWith("Network error on destination MXs: 127.0.0.3 [127.0.0.3]", r.Diagnostic, StringComparison.Ordinal));
        Assert.Equal(0, agent.ConnectionsOpened);

        var again = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, again[0].Status);
        Assert.Contains("route to 127.0.0.2:", again[0].Diagnostic, StringComparison.Ordinal);
        Assert.Contains("route to 127.0.0.3:", again[0].Diagnostic, StringComparison.Ordinal);
        Assert.Contains("paused until", again[0].Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backup_refusing_with_a_5xx_does_not_bounce_mail_the_first_smarthost_will_take_later()
    {
        await using var second = new ScriptedLinePeer(async c =>
        {
            await c.WriteLineAsync("554 5.3.2 no service here");
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent([Plain("127.0.0.2", ClosedPort("127.0.0.2")), Plain("127.0.0.1", second.Port)]);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, results[0].Status);
        Assert.StartsWith("Network error on destination MXs: 127.0.0.2 [127.0.0.2]", results[0].Diagnostic, StringComparison.Ordinal);
        Assert.Equal(1, second.Connections);
    }

    [Fact]
    public async Task A_smarthost_without_credentials_is_passed_over_never_tried_without_auth()
    {
        var delivered = new ConcurrentQueue<AcceptedMessage>();
        await using var first = AcceptingPeer(delivered);
        await using var second = AcceptingPeer(delivered);
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var noCredentials = Plain("127.0.0.1", first.Port) with { CredentialsProblem = "table secrets: no entry for 'first'" };
        await using var agent = Agent([noCredentials, Plain("127.0.0.1", second.Port)]);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.Delivered, results[0].Status);
        Assert.Equal(0, first.Connections);

        // Alone, it is a temporary failure that says why (OpenSMTPD's mta error).
        await using var alone = Agent([noCredentials]);
        var failed = await alone.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, failed[0].Status);
        Assert.Equal($"Could not retrieve credentials for 127.0.0.1:{first.Port}: table secrets: no entry for 'first'", failed[0].Diagnostic);
        Assert.Equal(0, first.Connections);
    }
}
