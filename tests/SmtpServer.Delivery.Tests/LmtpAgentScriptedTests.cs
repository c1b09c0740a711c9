using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests;

/// <summary>The lmtp agent against a scripted in-process peer: the error paths a real server rarely shows.</summary>
public sealed class LmtpAgentScriptedTests : IDisposable
{
    private readonly TempDirectory _dir = new("lmtp-scripted");

    public void Dispose() => _dir.Dispose();

    private static LmtpAgent Agent(ScriptedLinePeer peer, TimeSpan? commandTimeout = null) =>
        new("lmtp", new LmtpAgentOptions(peer.Address) { CommandTimeout = commandTimeout ?? TimeSpan.FromSeconds(10) }, TimeProvider.System, NullLogger<LmtpAgent>.Instance);

    private static async Task TransactionAsync(ScriptedLinePeer.PeerConnection c, int recipients, string[] afterData)
    {
        Assert.StartsWith("MAIL FROM:", await c.ReadLineAsync(), StringComparison.Ordinal);
        await c.WriteLineAsync("250 2.1.0 OK");
        for (var i = 0; i < recipients; i++)
        {
            Assert.StartsWith("RCPT TO:", await c.ReadLineAsync(), StringComparison.Ordinal);
            await c.WriteLineAsync("250 2.1.5 OK");
        }

        Assert.Equal("DATA", await c.ReadLineAsync());
        await c.WriteLineAsync("354 go ahead");
        await c.ReadDataAsync();
        foreach (var reply in afterData)
        {
            await c.WriteLineAsync(reply);
        }
    }

    [Fact]
    public async Task Per_recipient_replies_after_data_map_to_per_recipient_results_and_the_wire_is_exact()
    {
        string? data = null;
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.GreetAsync("SIZE 1000000", "8BITMIME", "ENHANCEDSTATUSCODES");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 2.1.0 OK");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 2.1.5 OK");
            await c.ReadLineAsync();
            await c.WriteLineAsync("550-5.1.1 no such user");
            await c.WriteLineAsync("550 5.1.1 really\u0001");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 2.1.5 OK");
            Assert.Equal("DATA", await c.ReadLineAsync());
            await c.WriteLineAsync("354 go ahead");
            data = await c.ReadDataAsync();
            await c.WriteLineAsync("250 2.0.0 <a@example.org> saved");
            await c.WriteLineAsync("452 4.2.2 <c@example.org> over quota");
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org", "c@example.org"), default);

        Assert.Equal(DeliveryStatus.Delivered, results[0].Status);
        Assert.Equal(DeliveryStatus.PermanentFailure, results[1].Status);
        Assert.Equal("5.1.1", results[1].EnhancedStatus);
        Assert.Equal($"lmtp: {peer.Address} answered 550 5.1.1 no such user 5.1.1 really? (after RCPT TO)", results[1].Diagnostic);
        Assert.Equal(DeliveryStatus.TemporaryFailure, results[2].Status);
        Assert.Equal("4.2.2", results[2].EnhancedStatus);

        // For the attempt history: every result names the endpoint, and no relay host or TLS.
        Assert.All(results, r => Assert.Equal((peer.Address, (string?)null, (string?)null), (r.RemoteAddress, r.RemoteHost, r.TlsProtocol)));

        var lines = peer.Received;
        Assert.Equal("LHLO localhost", lines[0]);
        Assert.Equal($"MAIL FROM:<sender@example.net> SIZE={new FileInfo(message).Length} BODY=8BITMIME", lines[1]);
        Assert.Equal(["RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>"], lines[2..5]);
        var stuffed = TestMessages.Simple
            .Replace("\r\n.a line", "\r\n..a line", StringComparison.Ordinal)
            .Replace("\r\n..two", "\r\n...two", StringComparison.Ordinal)
            .Replace("\r\n.\r\n", "\r\n..\r\n", StringComparison.Ordinal) + ".\r\n";
        Assert.Equal(stuffed, data);
    }

    [Fact]
    public async Task An_endless_reply_line_is_a_protocol_error_and_a_temporary_failure()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.GreetAsync();
            await c.ReadLineAsync();
            await c.WriteAsync("250 " + new string('x', 64 * 1024));
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);

        var result = Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default));

        Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
        Assert.Equal("4.5.0", result.EnhancedStatus);
        Assert.Contains("longer than 4096", result.Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reply_of_more_than_100_lines_is_a_protocol_error()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.GreetAsync();
            await c.ReadLineAsync();
            for (var i = 0; i < 150; i++)
            {
                await c.WriteLineAsync("250-more");
            }

            await c.WriteLineAsync("250 OK");
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);

        var result = Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default));

        Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
        Assert.Contains("more than 100 lines", result.Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connection_dropped_after_data_fails_every_recipient_temporarily()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.GreetAsync();
            await TransactionAsync(c, 2, []);
            c.Client.Close();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org"), default);

        Assert.All(results, r =>
        {
            Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status);
            Assert.Equal("4.4.2", r.EnhancedStatus);
            Assert.Contains("closed the connection", r.Diagnostic, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task A_silent_server_times_out()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.GreetAsync();
            await c.ReadLineAsync();
            await Task.Delay(TimeSpan.FromSeconds(3));
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer, commandTimeout: TimeSpan.FromMilliseconds(300));
        var stopwatch = Stopwatch.StartNew();

        var result = Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default));

        Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
        Assert.Contains("timed out", result.Diagnostic, StringComparison.Ordinal);
        Assert.Contains("MAIL", result.Diagnostic, StringComparison.Ordinal);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Nothing_listening_is_a_temporary_connect_failure()
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = new LmtpAgent("lmtp", new LmtpAgentOptions($"127.0.0.1:{port}"), TimeProvider.System, NullLogger<LmtpAgent>.Instance);

        var result = Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default));

        Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
        Assert.Equal("4.4.1", result.EnhancedStatus);
    }

    [Fact]
    public async Task A_pooled_connection_is_reset_before_reuse_and_replaced_when_the_server_dropped_it()
    {
        var sessions = 0;
        await using var peer = new ScriptedLinePeer(async c =>
        {
            var session = Interlocked.Increment(ref sessions);
            await c.GreetAsync();
            await TransactionAsync(c, 1, ["250 2.0.0 saved"]);
            if (session == 1)
            {
                // Second message on the same session, after RSET.
                Assert.Equal("RSET", await c.ReadLineAsync());
                await c.WriteLineAsync("250 2.0.0 OK");
                await TransactionAsync(c, 1, ["250 2.0.0 saved"]);
            }

            // Then the server drops the idle session; the next delivery must reconnect.
            c.Client.Close();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default)).Status);
            await Task.Delay(50);
        }

        Assert.Equal(2, agent.ConnectionsOpened);
        Assert.Equal(2, peer.Connections);
        Assert.Empty(peer.Errors);
    }

    [Fact]
    public async Task Envelope_data_with_line_breaks_never_reaches_the_wire()
    {
        await using var peer = new ScriptedLinePeer(async c => await c.GreetAsync());
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var envelope = TestMessages.Envelope(Core.Queue.QueueId.New(TimeProvider.System), new Core.Queue.AddressRecord("a>\r\nRCPT TO:<evil", "example.org"), null);
        await using var agent = Agent(peer);

        var result = Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.PermanentFailure, result.Status);
        Assert.Equal(0, agent.ConnectionsOpened);
    }
}

public sealed class LmtpEndpointTests
{
    [Theory]
    [InlineData("127.0.0.1:24", "127.0.0.1:24")]
    [InlineData("[::1]:2424", "[::1]:2424")]
    [InlineData("unix:/run/dovecot/lmtp", "/run/dovecot/lmtp")]
    [InlineData("/run/dovecot/lmtp", "/run/dovecot/lmtp")]
    [InlineData("lmtp.example:24", "Unspecified/lmtp.example:24")]
    public void Parses(string address, string expected) => Assert.Equal(expected, LmtpEndpoint.Parse(address).ToString());

    [Theory]
    [InlineData("localhost")]
    [InlineData("localhost:0")]
    [InlineData("unix:relative")]
    [InlineData("[zz]:24")]
    public void Rejects(string address) => Assert.Throws<ArgumentException>(() => LmtpEndpoint.Parse(address));
}
