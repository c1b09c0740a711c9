using System.Text;
using Microsoft.Extensions.Time.Testing;
using SmtpServer.Configuration;
using SmtpServer.Tests.Infrastructure;
using SmtpServer.Testing;

namespace SmtpServer.Tests.InMemory;

/// <summary>Every bound of server.limits, each with its reply (DESIGN.md, decision 6).</summary>
public sealed class SessionLimitsTests
{
    private static Func<ServerSettings, ServerSettings> Limits(Func<SessionLimits, SessionLimits> change) =>
        s => s with { Limits = change(s.Limits) };

    private static async Task<SmtpTestClient> OpenTransactionAsync(InMemorySmtpServer server)
    {
        var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<b@example.org>")).Code);
        return c;
    }

    [Fact]
    public async Task Too_long_command_line_is_refused_and_the_session_stays_in_sync()
    {
        await using var server = new InMemorySmtpServer(Limits(l => l with { MaxCommandLineLength = 64 }));
        await using var c = await server.ConnectAndGreetAsync();
        await c.SendAsync("EHLO " + new string('a', 200) + "\r\nNOOP\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.Equal(500, reply.Code);
        Assert.StartsWith("5.", reply.Status, StringComparison.Ordinal);
        Assert.Equal("250 2.0.0 Ok", (await c.ReadReplyAsync()).Text);
    }

    [Fact]
    public async Task Line_at_the_limit_is_accepted()
    {
        await using var server = new InMemorySmtpServer(Limits(l => l with { MaxCommandLineLength = 64 }));
        await using var c = await server.ConnectAndGreetAsync();
        var line = "NOOP " + new string('a', 64 - 2 - 5);
        Assert.Equal(250, (await c.CommandAsync(line)).Code);
        Assert.Equal(500, (await c.CommandAsync(line + "a")).Code);
    }

    [Fact]
    public async Task Too_many_recipients_gives_452()
    {
        await using var server = new InMemorySmtpServer(Limits(l => l with { MaxRecipients = 2 }));
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<c@example.org>")).Code);
        Assert.Equal("452 4.5.3 Too many recipients", (await c.CommandAsync("RCPT TO:<d@example.org>")).Text);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync(".\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(2, Assert.Single(server.Committed()).Envelopes.Count);
    }

    [Fact]
    public async Task Too_many_messages_per_session_gives_452()
    {
        await using var server = new InMemorySmtpServer(Limits(l => l with { MaxMessagesPerSession = 1 }));
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("x\r\n.\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.StartsWith("452 4.5.3", (await c.CommandAsync("MAIL FROM:<a@example.com>")).Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Too_many_errors_closes_with_421()
    {
        await using var server = new InMemorySmtpServer(Limits(l => l with { MaxErrorsPerSession = 3 }));
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(500, (await c.CommandAsync("BOGUS")).Code);
        Assert.Equal(500, (await c.CommandAsync("BOGUS")).Code);
        await c.SendAsync("BOGUS\r\n");
        Assert.Equal(500, (await c.ReadReplyAsync()).Code);
        var last = await c.ReadReplyAsync();
        Assert.Equal(421, last.Code);
        Assert.Equal("4.7.0", last.Status);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Idle_timeout_gives_421_and_closes()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-26T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var server = new InMemorySmtpServer(Limits(l => l with { IdleTimeout = TimeSpan.FromSeconds(300) }), time);
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);

        // The timer is armed just after the reply is flushed; advance until it fires (bounded).
        var text = string.Empty;
        for (var i = 0; i < 50 && text.Length == 0; i++)
        {
            time.Advance(TimeSpan.FromSeconds(301));
            text = await c.ReadAvailableAsync(TimeSpan.FromMilliseconds(100));
        }

        Assert.StartsWith("421 4.4.2 ", text, StringComparison.Ordinal);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task No_timeout_before_the_idle_time()
    {
        var time = new FakeTimeProvider();
        await using var server = new InMemorySmtpServer(Limits(l => l with { IdleTimeout = TimeSpan.FromSeconds(300) }), time);
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        time.Advance(TimeSpan.FromSeconds(299));
        Assert.Equal(string.Empty, await c.ReadAvailableAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task Oversized_message_is_read_to_the_end_then_refused_with_552()
    {
        await using var server = new InMemorySmtpServer(Limits(l => l with { MaxMessageSize = 1000 }));
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        var body = new StringBuilder();
        for (var i = 0; i < 100; i++)
        {
            body.Append("0123456789012345678901234567890123456789\r\n");
        }

        await c.SendAsync(body + ".\r\nNOOP\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.Equal(552, reply.Code);
        Assert.Equal("5.3.4", reply.Status);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Empty(server.Committed());
        Assert.Empty(Directory.GetFileSystemEntries(server.Spool.Combine("queue", "incoming")));
    }

    [Theory]
    [InlineData("bare\nline\r\n.\r\n")]
    [InlineData("bare\rcr\r\n.\r\n")]
    [InlineData("smuggled\n.\nMAIL FROM:<x@evil>\r\n.\r\n")]
    public async Task Bare_line_endings_are_refused_by_default(string content)
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync(content);
        var reply = await c.ReadReplyAsync();
        Assert.Equal(550, reply.Code);
        Assert.Equal("5.6.11", reply.Status);
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Bare_line_endings_are_normalized_when_configured()
    {
        await using var server = new InMemorySmtpServer(Limits(l => l with { BareLineEndings = Protocol.BareLineEndingPolicy.Normalize }));
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("a\nb\r\n.\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.EndsWith("\r\na\r\nb\r\n", await File.ReadAllTextAsync(Assert.Single(server.Committed()).MessagePath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hundred_received_headers_is_a_loop()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        var headers = new StringBuilder();
        for (var i = 0; i < 100; i++)
        {
            headers.Append("Received: from a by b; Thu, 26 Nov 2026 08:00:00 +0000\r\n");
        }

        await c.SendAsync(headers + "\r\nbody\r\n.\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.Equal(554, reply.Code);
        Assert.Equal("5.4.6", reply.Status);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Too_long_text_line_is_refused()
    {
        await using var server = new InMemorySmtpServer(Limits(l => l with { MaxTextLineLength = 100 }));
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync(new string('x', 200) + "\r\n.\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.True(reply.Code >= 500, reply.Text);
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Client_vanishing_inside_data_leaves_nothing()
    {
        await using var server = new InMemorySmtpServer();
        var c = await OpenTransactionAsync(server);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("Subject: half\r\n\r\nhalf a message");
        await c.DisposeAsync();
        await server.WaitForSessionsAsync();
        Assert.Empty(server.Committed());
        Assert.Empty(Directory.GetFileSystemEntries(server.Spool.Combine("queue", "incoming")));
    }
}
