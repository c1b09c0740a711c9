using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery.Relay;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// The relay agent's TLS and AUTH policy against scripted peers: no AUTH over plaintext ever
/// (OpenSMTPD: "Refuse to AUTH over insecure channel", an mta_error, so a temporary failure),
/// and opportunistic STARTTLS that falls back to plaintext on a new connection when the
/// handshake breaks, while tls: required does not.
/// </summary>
public sealed class RelayAgentTlsScriptedTests : IDisposable
{
    private readonly TempDirectory _dir = new("relay-tls-scripted");

    public void Dispose() => _dir.Dispose();

    private static RelayAgent Agent(string url, RelayTlsMode? tls = null, NetworkCredential? credentials = null)
    {
        var host = Smarthost.Parse(new Uri(url), out var schemeTls);
        return new RelayAgent("relay", new RelayAgentOptions
        {
            Hosts = [host with { Tls = tls ?? schemeTls, Credentials = credentials }],
            HeloName = "mx.us.test",
            ConnectTimeout = TimeSpan.FromSeconds(10),
            CommandTimeout = TimeSpan.FromSeconds(10),
        }, TimeProvider.System, NullLogger<RelayAgent>.Instance);
    }

    private static async Task EhloAsync(ScriptedLinePeer.PeerConnection c, params string[] extensions)
    {
        await c.WriteLineAsync("220 peer ESMTP");
        Assert.Equal("EHLO mx.us.test", await c.ReadLineAsync());
        var lines = new List<string> { "peer" };
        lines.AddRange(extensions);
        for (var i = 0; i < lines.Count; i++)
        {
            await c.WriteLineAsync((i == lines.Count - 1 ? "250 " : "250-") + lines[i]);
        }
    }

    /// <summary>Accepts one message (MAIL, RCPT, DATA, content), then QUIT.</summary>
    private static async Task<string> AcceptOneAsync(ScriptedLinePeer.PeerConnection c)
    {
        Assert.StartsWith("MAIL FROM:<sender@example.net>", await c.ReadLineAsync(), StringComparison.Ordinal);
        await c.WriteLineAsync("250 2.1.0 ok");
        Assert.Equal("RCPT TO:<a@example.org>", await c.ReadLineAsync());
        await c.WriteLineAsync("250 2.1.5 ok");
        Assert.Equal("DATA", await c.ReadLineAsync());
        await c.WriteLineAsync("354 go");
        var data = await c.ReadDataAsync();
        await c.WriteLineAsync("250 2.0.0 queued");
        Assert.Equal("QUIT", await c.ReadLineAsync());
        await c.WriteLineAsync("221 bye");
        return data;
    }

    /// <summary>Answers STARTTLS with 220, waits for the ClientHello, then breaks the handshake.</summary>
    private static async Task BreakHandshakeAsync(ScriptedLinePeer.PeerConnection c, bool garbage)
    {
        Assert.Equal("STARTTLS", await c.ReadLineAsync());
        await c.WriteLineAsync("220 2.0.0 go ahead");
        var stream = c.Client.GetStream();
        var hello = new byte[4096];
        var read = await stream.ReadAsync(hello);
        Assert.True(read > 0 && hello[0] == 0x16, "expected a TLS ClientHello");
        if (garbage)
        {
            await stream.WriteAsync("this is not TLS at all\r\n"u8.ToArray());
            await Task.Delay(200);
        }

        c.Client.Client.Close();
    }

    [Theory]
    [InlineData("smtp+notls://label@127.0.0.1")]
    [InlineData("smtp://label@127.0.0.1")]
    public async Task Auth_is_never_sent_over_plaintext(string url)
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "AUTH PLAIN LOGIN", "8BITMIME", "PIPELINING");
            Assert.Equal("QUIT", await c.ReadLineAsync());
            await c.WriteLineAsync("221 bye");
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent($"{url}:{peer.Port}", credentials: new NetworkCredential("user", "secret"));
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org"), default);
        await agent.DisposeAsync();

        Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
        Assert.All(results, r => Assert.Contains("Refuse to AUTH over insecure channel", r.Diagnostic, StringComparison.Ordinal));
        Assert.DoesNotContain(peer.Received, l => l.StartsWith("AUTH", StringComparison.OrdinalIgnoreCase) || l.StartsWith("MAIL", StringComparison.Ordinal));
        Assert.DoesNotContain(peer.Received, l => l.Contains("c2VjcmV0", StringComparison.Ordinal)); // base64("secret")
        Assert.Equal(1, peer.Connections);
        Assert.Empty(peer.Errors);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Opportunistic_starttls_with_a_broken_handshake_reconnects_in_plaintext_and_delivers(bool garbage)
    {
        var connections = 0;
        // Set by the peer's handler, which may still be running when DeliverAsync returns.
        var delivered = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var peer = new ScriptedLinePeer(async c =>
        {
            var n = Interlocked.Increment(ref connections);
            await EhloAsync(c, "STARTTLS", "8BITMIME");
            if (n == 1)
            {
                await BreakHandshakeAsync(c, garbage);
                return;
            }

            // The plaintext retry must not try STARTTLS again.
            delivered.TrySetResult(await AcceptOneAsync(c));
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent($"smtp://127.0.0.1:{peer.Port}");
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        await agent.DisposeAsync();

        Assert.Equal(DeliveryStatus.Delivered, results[0].Status);
        Assert.Equal(2, peer.Connections);
        Assert.Equal(2, agent.ConnectionsOpened);
        Assert.Equal(1, peer.Received.Count(l => l == "STARTTLS"));
        var data = await delivered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("\r\nHello Alice.\r\n", data, StringComparison.Ordinal);
        Assert.Empty(peer.Errors);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Tls_required_with_a_broken_handshake_fails_temporarily_without_plaintext(bool garbage)
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "STARTTLS", "8BITMIME");
            await BreakHandshakeAsync(c, garbage);
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent($"smtp+tls://127.0.0.1:{peer.Port}", RelayTlsMode.Required);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org"), default);
        await agent.DisposeAsync();

        Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
        Assert.Equal(1, peer.Connections);
        Assert.DoesNotContain(peer.Received, l => l.StartsWith("MAIL", StringComparison.Ordinal));
        Assert.Empty(peer.Errors);
    }

    [Fact]
    public async Task Tls_required_and_a_peer_without_starttls_fails_temporarily()
    {
        await using var peer = new ScriptedLinePeer(async c =>
        {
            await EhloAsync(c, "8BITMIME");
            Assert.Equal("QUIT", await c.ReadLineAsync());
            await c.WriteLineAsync("221 bye");
        });
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent($"smtp+tls://127.0.0.1:{peer.Port}", RelayTlsMode.Required);
        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);
        await agent.DisposeAsync();

        Assert.Equal(DeliveryStatus.TemporaryFailure, results[0].Status);
        Assert.Contains("TLS required but not supported by remote host", results[0].Diagnostic, StringComparison.Ordinal);
        Assert.DoesNotContain(peer.Received, l => l.StartsWith("MAIL", StringComparison.Ordinal));
        Assert.Empty(peer.Errors);
    }
}
