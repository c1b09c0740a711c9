using MailKit.Net.Smtp;
using MimeKit;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Sockets;

/// <summary>A real client nobody here wrote (MailKit) over real sockets to the real host.</summary>
public sealed class MailKitTests
{
    private static MimeMessage Message(string to, string subject, string body)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@example.com"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = body };
        return message;
    }

    [Fact]
    public async Task MailKit_sends_and_the_message_is_committed()
    {
        await using var server = await SocketSmtpServer.StartAsync();
        using var client = new SmtpClient();
        await client.ConnectAsync(server.EndPoint.Address.ToString(), server.EndPoint.Port, MailKit.Security.SecureSocketOptions.None);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Chunking));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.UTF8));
        Assert.Equal(36700160u, client.MaxSize);

        var response = await client.SendAsync(Message("user@example.org", "hello", "first line\n.leading dot\nlast"));
        Assert.Contains("Message accepted for delivery", response, StringComparison.Ordinal);
        await client.DisconnectAsync(quit: true);

        var stored = Assert.Single(server.Committed());
        using var stream = File.OpenRead(stored.MessagePath);
        var parsed = await MimeMessage.LoadAsync(stream);
        Assert.Equal("hello", parsed.Subject);
        Assert.Contains(".leading dot", parsed.TextBody, StringComparison.Ordinal);
        Assert.StartsWith("from ", parsed.Headers[HeaderId.Received], StringComparison.Ordinal);
    }

    [Fact]
    public async Task MailKit_sends_many_messages_on_one_connection()
    {
        await using var server = await SocketSmtpServer.StartAsync();
        using var client = new SmtpClient();
        await client.ConnectAsync(server.EndPoint.Address.ToString(), server.EndPoint.Port, MailKit.Security.SecureSocketOptions.None);
        for (var i = 0; i < 20; i++)
        {
            await client.SendAsync(Message($"user{i}@example.org", $"message {i}", new string('x', 10_000 * i)));
        }

        await client.DisconnectAsync(quit: true);
        Assert.Equal(20, server.Committed().Count);
    }

    [Fact]
    public async Task MailKit_sees_a_refused_recipient()
    {
        await using var server = await SocketSmtpServer.StartAsync(s => s with { Limits = s.Limits with { MaxMessageSize = 5000 } });
        using var client = new SmtpClient();
        await client.ConnectAsync(server.EndPoint.Address.ToString(), server.EndPoint.Port, MailKit.Security.SecureSocketOptions.None);
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Message("user@blocked.example", "x", "y")));
        Assert.Equal(SmtpStatusCode.MailboxUnavailable, error.StatusCode);

        var tooBig = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Message("user@example.org", "x", new string('y', 10_000))));
        Assert.Equal(SmtpStatusCode.ExceededStorageAllocation, tooBig.StatusCode);
        Assert.Empty(server.Committed());
    }
}
