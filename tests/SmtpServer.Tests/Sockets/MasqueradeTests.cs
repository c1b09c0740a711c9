using System.Globalization;
using System.Net.Sockets;
using MailKit.Net.Smtp;
using MimeKit;
using SmtpServer.Auth;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Sockets;

/// <summary>
/// listeners[].masquerade end to end (OpenSMTPD's <c>senders &lt;table&gt; masquerade</c>): the real
/// host from a config file, MailKit as the client; the From: of authenticated mail is stored as
/// the envelope sender, display name kept, and unauthenticated mail is left alone.
/// </summary>
public sealed class MasqueradeTests : IDisposable
{
    private readonly TempDirectory _directory = new("smtpd-masquerade");

    public void Dispose() => _directory.Dispose();

    private async Task<SocketSmtpServer> StartAsync(bool masquerade)
    {
        var d = _directory.Path;
        await File.WriteAllTextAsync(_directory.Combine("credentials"), $"alice:{Sha512Crypt.Crypt("alice-pw", "$6$rounds=1000$alicesalt")}\n");
        await File.WriteAllTextAsync(_directory.Combine("senders"), "alice alice@one.example, @two.example\n");
        var config = _directory.Combine("smtpd.yaml");

        // Accepted mail goes to a relay that refuses connections, so it stays in the queue to be read.
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $$"""
            server: { hostname: mx.test.example }
            queue: { path: {{d}}/queue }
            dns: { reverseLookup: false }
            listeners:
              - name: submission
                address: "127.0.0.1:0"
                auth: { mode: optional, credentials: users, allowPlaintext: true }
                senders: senders
                masquerade: {{(masquerade ? "true" : "false")}}
            tables:
              users: { type: file, path: {{d}}/credentials, format: credentials }
              senders: { type: file, path: {{d}}/senders, format: map }
            actions:
              hold: { relay: { host: "smtp+notls://127.0.0.1:{{Dnsmasq.FreePort(SocketType.Stream)}}" } }
            rules:
              - { from: any, for: any, action: hold }
            """));
        return await SocketSmtpServer.StartFromConfigAsync(_directory, config);
    }

    private static MimeMessage Message(string from, string subject)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse("bob@remote.example"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "From: in the body stays\n" };
        return message;
    }

    private static async Task SendAsync(SocketSmtpServer server, MimeMessage message, string envelopeSender, bool login)
    {
        using var client = new SmtpClient { LocalDomain = "client.test", Timeout = 30_000 };
        await client.ConnectAsync(server.EndPoint.Address.ToString(), server.EndPoint.Port, MailKit.Security.SecureSocketOptions.None);
        if (login)
        {
            await client.AuthenticateAsync("alice", "alice-pw");
        }

        await client.SendAsync(message, MailboxAddress.Parse(envelopeSender), [MailboxAddress.Parse("bob@remote.example")]);
        await client.DisconnectAsync(quit: true);
    }

    private static async Task<MimeMessage> StoredAsync(SocketSmtpServer server, string subject)
    {
        foreach (var stored in server.Committed())
        {
            using var stream = File.OpenRead(stored.MessagePath);
            var parsed = await MimeMessage.LoadAsync(stream);
            if (parsed.Subject == subject)
            {
                return parsed;
            }
        }

        Assert.Fail($"no stored message with Subject: {subject}");
        return null;
    }

    [Fact]
    public async Task Authenticated_mail_gets_the_envelope_sender_as_from()
    {
        await using var server = await StartAsync(masquerade: true);
        await SendAsync(server, Message("\"Other, Person\" <other@evil.example>", "spoofed"), "alice@one.example", login: true);
        await SendAsync(server, Message("Alice <alice@one.example>", "honest"), "shared@two.example", login: true);
        await SendAsync(server, Message("Someone <someone@remote.example>", "anonymous"), "someone@remote.example", login: false);

        var spoofed = await StoredAsync(server, "spoofed");
        var from = Assert.Single(spoofed.From.Mailboxes);
        Assert.Equal("Other, Person", from.Name);
        Assert.Equal("alice@one.example", from.Address);
        Assert.Contains("From: in the body stays", spoofed.TextBody, StringComparison.Ordinal);

        Assert.Equal("shared@two.example", Assert.Single((await StoredAsync(server, "honest")).From.Mailboxes).Address);

        // Unauthenticated mail is not the listener's users': it keeps its From.
        Assert.Equal("someone@remote.example", Assert.Single((await StoredAsync(server, "anonymous")).From.Mailboxes).Address);
    }

    [Fact]
    public async Task Without_masquerade_from_is_stored_as_sent()
    {
        await using var server = await StartAsync(masquerade: false);
        await SendAsync(server, Message("Other <other@evil.example>", "as sent"), "alice@one.example", login: true);
        Assert.Equal("other@evil.example", Assert.Single((await StoredAsync(server, "as sent")).From.Mailboxes).Address);
    }
}
