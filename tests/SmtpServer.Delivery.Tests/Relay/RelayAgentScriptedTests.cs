using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery.Relay;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>The relay agent against scripted in-process SMTP peers: every reply path and hostile peers.</summary>
public sealed class RelayAgentScriptedTests : IDisposable
{
    private readonly TempDirectory _dir = new("relay-scripted");

    public void Dispose() => _dir.Dispose();

    private static RelayAgent Agent(ScriptedLinePeer peer, TimeSpan? commandTimeout = null) =>
        new("relay", new RelayAgentOptions
        {
            Hosts = [new Smarthost("127.0.0.1", peer.Port, false, null) { Tls = RelayTlsMode.None }],
            HeloName = "mx.us.test",
            CommandTimeout = commandTimeout ?? TimeSpan.FromSeconds(10),
        }, TimeProvider.System, NullLogger<RelayAgent>.Instance);

    private static async Task EhloAsync(ScriptedLinePeer.PeerConnection c, params string[] extensions)
    {
        await c.WriteLineAsync("220 peer ESMTP");
        var ehlo = await c.ReadLineAsync();
        Assert.Equal("EHLO mx.us.test", ehlo);
        var lines = new List<string> { "peer" };
        lines.AddRange(extensions);
        for (var i = 0; i < lines.Count; i++)
        {
            await c.WriteLineAsync((i == lines.Count - 1 ? "250 " : "250-") + lines[i]);
        }
    }

    private static string Stuffed(string message) => message
        .Replace("\r\n.a line", "\r\n..a line", StringComparison.Ordinal)
        .Replace("\r\n..two", "\r\n...two", StringComparison.Ordinal)
        .Replace("\r\n.\r\n", "\r\n..\r\n", StringComparison.Ordinal) + ".\r\n";

    [Fact]
    public async Task Pipelined_transaction_gives_per_recipient_results_exact_bytes_and_reuses_the_session()
    {
        var data = new List<string>();
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "PIPELINING", "SIZE 1000000", "8BITMIME", "DSN");
            for (var m = 0; m < 2; m++)
            {
                Assert.StartsWith("MAIL FROM:<sender@example.net>", await c.ReadLineAsync(), StringComparison.Ordinal);
                await c.ReadLineAsync();
                await c.ReadLineAsync();
                await c.ReadLineAsync();

                // All replies in one write: the client must have sent MAIL and every RCPT first.
                await c.WriteAsync("250 2.1.0 OK\r\n250 2.1.5 OK\r\n550-5.1.1 no such\r\n550 5.1.1 user\r\n450 4.2.0 later\r\n");
                Assert.Equal("DATA", await c.ReadLineAsync());
                await c.WriteLineAsync("354 go");
                data.Add(await c.ReadDataAsync());
                await c.WriteLineAsync("250 2.0.0 queued");
            }

            Assert.Equal("QUIT", await c.ReadLineAsync());
            await c.WriteLineAsync("221 bye");
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent(peer);
        for (var m = 0; m < 2; m++)
        {
            var request = TestMessages.Request(message, "a@example.org", "b@example.org", "c@example.org");
            request = request with { Recipients = [request.Recipients[0] with { Notify = DsnNotify.Success | DsnNotify.Failure, OriginalRecipient = "A+B@example.org" }, .. request.Recipients.Skip(1)] };
            var results = await agent.DeliverAsync(request, default);
            Assert.Equal(DeliveryStatus.Delivered, results[0].Status);
            Assert.Equal(DeliveryStatus.PermanentFailure, results[1].Status);
            Assert.Equal("5.1.1", results[1].EnhancedStatus);
            Assert.Contains("550 5.1.1 no such 5.1.1 user (after RCPT TO)", results[1].Diagnostic, StringComparison.Ordinal);
            Assert.Equal(DeliveryStatus.TemporaryFailure, results[2].Status);
            Assert.Equal("4.2.0", results[2].EnhancedStatus);
            Assert.Equal("127.0.0.1 [127.0.0.1]", results[0].RemoteMta);
            Assert.All(results, r => Assert.Equal(("127.0.0.1", "127.0.0.1", (string?)null), (r.RemoteHost, r.RemoteAddress, r.TlsProtocol)));
        }

        await agent.DisposeAsync();
        Assert.Equal(1, agent.ConnectionsOpened);
        Assert.Equal([Stuffed(TestMessages.Simple), Stuffed(TestMessages.Simple)], data);
        Assert.Equal($"MAIL FROM:<sender@example.net> SIZE={new FileInfo(message).Length} BODY=8BITMIME", peer.Received[1]);
        Assert.Equal("RCPT TO:<a@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;A+2BB@example.org", peer.Received[2]);
        Assert.Empty(peer.Errors);
    }

    [Fact]
    public async Task Without_pipelining_commands_go_one_by_one_and_a_failed_mail_fails_everyone()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "8BITMIME");
            Assert.Equal("MAIL FROM:<sender@example.net> BODY=8BITMIME", await c.ReadLineAsync());
            await c.WriteLineAsync("451 4.3.0 try later");
            Assert.Equal("RSET", await c.ReadLineAsync());
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org"), default);
        Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
        Assert.All(results, r => Assert.Equal("4.3.0", r.EnhancedStatus));
        Assert.Empty(peer.Errors);
    }

    [Theory]
    [InlineData("554 5.6.0 no thanks", true)]
    [InlineData("451 4.3.0 busy", false)]
    public async Task A_failed_data_command_applies_to_every_accepted_recipient(string reply, bool permanent)
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "8BITMIME");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            Assert.Equal("DATA", await c.ReadLineAsync());
            await c.WriteLineAsync(reply);
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org"), default);
        Assert.All(results, r => Assert.Equal(permanent ? DeliveryStatus.PermanentFailure : DeliveryStatus.TemporaryFailure, r.Status));
    }

    [Fact]
    public async Task A_connection_dropped_after_the_final_dot_is_temporary()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "8BITMIME");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteLineAsync("354 go");
            await c.ReadDataAsync();
            c.Client.Client.Close();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, results[0].Status);
        Assert.Contains("after the final dot", results[0].Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_peer_that_drops_mid_data_gives_a_temporary_failure()
    {
        var big = TestMessages.Write(_dir, "Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 20000)));
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "8BITMIME");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteLineAsync("354 go");
            await c.ReadLineAsync();
            c.Client.Client.Close();
        });
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(big, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, results[0].Status);
    }

    [Fact]
    public async Task An_endless_reply_line_is_a_bounded_protocol_error()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.WriteAsync("220 ");
            var chunk = new string('A', 64 * 1024);
            for (var i = 0; i < 64; i++)
            {
                await c.WriteAsync(chunk);
            }
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, results[0].Status);
        Assert.Contains("reply line longer than 4096 bytes", results[0].Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_thousand_line_reply_is_refused()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.WriteLineAsync("220 peer");
            await c.ReadLineAsync();
            for (var i = 0; i < 1000; i++)
            {
                await c.WriteLineAsync("250-X" + i);
            }

            await c.WriteLineAsync("250 end");
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, results[0].Status);
        Assert.Contains("reply of more than 100 lines", results[0].Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cve_2020_8794_injected_line_breaks_and_mixed_codes_never_reach_the_diagnostic()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "8BITMIME");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteAsync("550-5.1.1 bad\rLastError: injected\x1b[31m\r\n550 5.1.1 end\0\r\n");
            await c.ReadLineAsync();
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.PermanentFailure, results[0].Status);
        Assert.DoesNotContain(results[0].Diagnostic!, c => char.IsControl(c));
        Assert.Contains("bad?LastError: injected?[31m", results[0].Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_continuation_line_with_another_code_is_a_protocol_error()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.WriteAsync("220-peer\r\n354 sneaky\r\n");
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, results[0].Status);
        Assert.Contains("malformed reply line", results[0].Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_message_over_the_peers_size_is_refused_before_mail()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "SIZE 100", "8BITMIME");
            Assert.Equal("QUIT", await c.ReadLineAsync());
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        await agent.DisposeAsync();
        Assert.Equal(DeliveryStatus.PermanentFailure, results[0].Status);
        Assert.Equal("5.3.4", results[0].EnhancedStatus);
        Assert.DoesNotContain(peer.Received, l => l.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_eight_bit_message_to_a_peer_without_8bitmime_bounces_with_a_reason()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "PIPELINING");
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.PermanentFailure, results[0].Status);
        Assert.Equal("5.6.3", results[0].EnhancedStatus);
        Assert.Contains("does not offer 8BITMIME", results[0].Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Helo_is_used_when_ehlo_is_refused()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.WriteLineAsync("220 old");
            Assert.Equal("EHLO mx.us.test", await c.ReadLineAsync());
            await c.WriteLineAsync("502 what");
            Assert.Equal("HELO mx.us.test", await c.ReadLineAsync());
            await c.WriteLineAsync("250 hi");
            Assert.Equal("MAIL FROM:<sender@example.net>", await c.ReadLineAsync());
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteLineAsync("250 ok");
            await c.ReadLineAsync();
            await c.WriteLineAsync("354 go");
            await c.ReadDataAsync();
            await c.WriteLineAsync("250 done");
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, "Subject: ascii\r\n\r\nhi\r\n");
        await using var agent = Agent(peer);
        var request = TestMessages.Request(message, "a@example.org");
        request = request with { Recipients = [request.Recipients[0] with { Body = BodyType.SevenBit }] };
        var results = await agent.DeliverAsync(request, default);
        Assert.Equal(DeliveryStatus.Delivered, results[0].Status);
    }

    [Fact]
    public async Task A_4xx_greeting_fails_temporarily_and_pauses_the_route()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await c.WriteLineAsync("421 4.3.2 too busy");
            await c.ReadLineAsync();
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(peer);
        var first = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, first[0].Status);
        Assert.Contains("421 4.3.2 too busy", first[0].Diagnostic, StringComparison.Ordinal);
        var second = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        Assert.Contains("paused", second[0].Diagnostic, StringComparison.Ordinal);
        Assert.Equal(1, peer.Connections);

        // The attempt history learns which address refused; a paused route tried none.
        Assert.Equal(("127.0.0.1", "127.0.0.1", (string?)null, (string?)null), (first[0].RemoteHost, first[0].RemoteAddress, first[0].TlsProtocol, first[0].RemoteMta));
        Assert.Equal(((string?)null, (string?)null), (second[0].RemoteHost, second[0].RemoteAddress));
    }

    [Theory]
    [InlineData("Tls13", "TLSv1.3")]
    [InlineData("Tls12", "TLSv1.2")]
    [InlineData("Tls", "TLSv1")]
    [InlineData(null, null)]
    [InlineData("Ssl3", "Ssl3")]
    public void Tls_versions_get_openssl_names(string? protocol, string? expected) =>
        Assert.Equal(expected, RelayAgent.TlsVersion(protocol));

    [Fact]
    public void Mx_order_handles_preference_null_mx_localhost_and_implicit_mx()
    {
        var random = new Random(1);
        var (hosts, failure) = RouteResolver.Order("d.test", [new MxHost("b.", 20), new MxHost("a.", 10), new MxHost("c.", 20)], random);
        Assert.Null(failure);
        Assert.Equal("a", hosts[0].Name);
        Assert.Equal(["b", "c"], hosts.Skip(1).Select(h => h.Name).Order());
        Assert.Equal("5.1.10", RouteResolver.Order("d.test", [new MxHost(".", 0)], random).Failure!.Status);
        Assert.False(RouteResolver.Order("d.test", [new MxHost("localhost.", 0)], random).Failure!.Temporary);
        Assert.Equal("d.test", RouteResolver.Order("d.test", [], random).Hosts.Single().Name);
    }
}
