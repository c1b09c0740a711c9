using System.Globalization;
using System.Net;
using System.Net.Sockets;
using MailKit.Net.Smtp;
using MimeKit;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Interop;

/// <summary>
/// Reverse DNS end to end: a real dnsmasq serves the PTR and A records, the real server (from a
/// config file) looks its clients up through dns.servers, and MailKit connects from other
/// loopback addresses (127.0.0.2, .3, .4) so each has its own PTR. The rule
/// <c>from: { rdns: "~ regex" }</c> decides accept or reject, and the stored Received header
/// carries the confirmed name. dnsmasq is installed by .ci/run; missing, these tests fail.
/// </summary>
public sealed class ReverseDnsInteropTests : IDisposable
{
    private static readonly string[] Records =
    [
        // 127.0.0.2: relay1.client.test, whose A record is 127.0.0.2 (--host-record writes the PTR too).
        "--host-record=relay1.client.test,127.0.0.2",

        // 127.0.0.3: a PTR naming a host whose address is another one: not confirmed.
        "--ptr-record=3.0.0.127.in-addr.arpa,forged.client.test",
        "--host-record=forged.client.test,127.0.0.9",

        // 127.0.0.4: no PTR at all (NXDOMAIN, not REFUSED: the zone is dnsmasq's).
        "--local=/127.in-addr.arpa/",
    ];

    private readonly TempDirectory _directory = new("smtpd-rdns");

    public void Dispose() => _directory.Dispose();

    private async Task<SocketSmtpServer> StartServerAsync(int dnsPort)
    {
        var d = _directory.Path;
        var hold = Dnsmasq.FreePort(SocketType.Stream);
        var config = _directory.Combine("smtpd.yaml");

        // Accepted mail goes to a relay that refuses connections, so it stays in the queue to be read.
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $$"""
            server: { hostname: mx.test.example }
            queue: { path: {{d}}/queue }
            dns: { servers: ["127.0.0.1:{{dnsPort}}"], reverseLookup: true, reverseLookupTimeout: 10s }
            listeners:
              - { name: mx, address: "127.0.0.1:0" }
            tables:
              domains: { type: list, values: [one.example] }
            actions:
              hold: { relay: { host: "smtp+notls://127.0.0.1:{{hold}}" } }
            rules:
              - { from: { rdns: "~ ^relay[0-9]+\\.client\\.test$" }, for: any, action: hold }
              - { from: { rdns: "~ \\.client\\.test$" }, for: { domain: [two.example] }, action: hold }
              - { from: any, for: { domain: domains }, action: hold }
            """));
        return await SocketSmtpServer.StartFromConfigAsync(_directory, config);
    }

    private static async Task<SmtpClient> ConnectFromAsync(SocketSmtpServer server, string source)
    {
        var client = new SmtpClient
        {
            LocalEndPoint = new IPEndPoint(IPAddress.Parse(source), 0),
            LocalDomain = "client.test",
            Timeout = 30_000,
        };
        await client.ConnectAsync(server.EndPoint.Address.ToString(), server.EndPoint.Port, MailKit.Security.SecureSocketOptions.None);
        return client;
    }

    private static MimeMessage Message(string to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@client.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = "rdns";
        message.Body = new TextPart("plain") { Text = "hello" };
        return message;
    }

    private static async Task<(string Received, string? ClientHostName)> StoredAsync(SocketSmtpServer server, string recipient)
    {
        var stored = Assert.Single(server.Committed(), m => m.Envelopes.Any(e => e.Recipient.ToMailbox().Address == recipient));
        using var stream = File.OpenRead(stored.MessagePath);
        var parsed = await MimeMessage.LoadAsync(stream);
        return (parsed.Headers[HeaderId.Received] ?? string.Empty, stored.Envelopes[0].ClientHostName);
    }

    [Fact]
    public async Task A_confirmed_name_matching_the_rule_relays_and_is_in_the_received_header()
    {
        var (dns, dnsPort) = await Dnsmasq.StartAsync(Records);
        await using (dns)
        {
            await using var server = await StartServerAsync(dnsPort);
            using (var client = await ConnectFromAsync(server, "127.0.0.2"))
            {
                await client.SendAsync(Message("x@remote.example"));
                await client.DisconnectAsync(quit: true);
            }

            var (received, name) = await StoredAsync(server, "x@remote.example");
            Assert.StartsWith("from client.test (relay1.client.test [127.0.0.2])", received, StringComparison.Ordinal);
            Assert.Equal("relay1.client.test", name);
        }
    }

    [Theory]
    [InlineData("127.0.0.3")]
    [InlineData("127.0.0.4")]
    public async Task Without_a_confirmed_name_the_rule_does_not_match_and_the_client_is_unknown(string source)
    {
        var (dns, dnsPort) = await Dnsmasq.StartAsync(Records);
        await using (dns)
        {
            await using var server = await StartServerAsync(dnsPort);
            using (var client = await ConnectFromAsync(server, source))
            {
                // 127.0.0.3's PTR (forged.client.test) matches both regexes, but is not confirmed.
                var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Message("x@remote.example")));
                Assert.Equal(SmtpStatusCode.MailboxUnavailable, refused.StatusCode);
                refused = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Message("y@two.example")));
                Assert.Equal(SmtpStatusCode.MailboxUnavailable, refused.StatusCode);

                await client.SendAsync(Message("bob@one.example"));
                await client.DisconnectAsync(quit: true);
            }

            var (received, name) = await StoredAsync(server, "bob@one.example");
            Assert.StartsWith($"from client.test (unknown [{source}])", received, StringComparison.Ordinal);
            Assert.Null(name);
            Assert.Single(server.Committed());
        }
    }
}
