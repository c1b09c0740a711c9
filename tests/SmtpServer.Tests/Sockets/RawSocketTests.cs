using System.Net.Sockets;
using System.Text;
using SmtpServer.Tests.Infrastructure;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Sockets;

/// <summary>Malformed and hostile input over real sockets: nothing costs the process.</summary>
public sealed class RawSocketTests
{
    [Fact]
    public async Task Garbage_never_kills_the_server()
    {
        await using var server = await SocketSmtpServer.StartAsync(s => s with { Limits = s.Limits with { MaxErrorsPerSession = 1000 } });
        var random = new Random(1234);
        for (var round = 0; round < 20; round++)
        {
            await using var c = await server.ConnectAsync();
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            var junk = new byte[4096];
            random.NextBytes(junk);
            await c.SendAsync(junk);
            await c.SendAsync("\r\nNUL\0BYTE\r\n\r\n\r\nMAIL FROM:<\0>\r\nEHLO \xff\xfe\r\n");
        }

        await using var healthy = await server.ConnectAsync();
        Assert.Equal(220, (await healthy.ReadReplyAsync()).Code);
        Assert.Equal(250, (await healthy.CommandAsync("EHLO ok.example")).Code);
    }

    [Fact]
    public async Task Endless_line_is_cut_off_and_the_session_continues()
    {
        await using var server = await SocketSmtpServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        var chunk = Encoding.ASCII.GetBytes(new string('A', 64 * 1024));
        for (var i = 0; i < 64; i++)
        {
            await c.SendAsync(chunk);
        }

        await c.SendAsync("\r\nNOOP\r\n");
        Assert.Equal(500, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
    }

    [Fact]
    public async Task Abrupt_disconnects_inside_data_leave_no_message()
    {
        await using var server = await SocketSmtpServer.StartAsync();
        for (var i = 0; i < 5; i++)
        {
            var c = await server.ConnectAsync();
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            await c.SendAsync("EHLO x.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
            for (var r = 0; r < 4; r++)
            {
                await c.ReadReplyAsync();
            }

            await c.SendAsync("Subject: cut\r\n\r\nno end");
            await c.DisposeAsync();
        }

        await using var healthy = await server.ConnectAsync();
        Assert.Equal(220, (await healthy.ReadReplyAsync()).Code);
        Assert.Equal(221, (await healthy.CommandAsync("QUIT")).Code);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Sessions_over_the_per_client_limit_get_421_at_connect()
    {
        await using var server = await SocketSmtpServer.StartAsync(s => s with { MaxSessionsPerClient = 2 });
        await using var first = await server.ConnectAsync();
        await using var second = await server.ConnectAsync();
        Assert.Equal(220, (await first.ReadReplyAsync()).Code);
        Assert.Equal(220, (await second.ReadReplyAsync()).Code);
        await using (var third = await server.ConnectAsync())
        {
            var refused = await third.ReadReplyAsync();
            Assert.Equal(421, refused.Code);
            Assert.Equal("4.7.0", refused.Status);
            Assert.True(await third.IsClosedAsync());
        }

        Assert.Equal(221, (await first.CommandAsync("QUIT")).Code);
        Assert.True(await first.IsClosedAsync());
        await using var fourth = await RetryConnectAsync(server);
        Assert.Equal(250, (await fourth.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task Sessions_over_the_total_limit_get_421_at_connect()
    {
        await using var server = await SocketSmtpServer.StartAsync(s => s with { MaxSessions = 1 });
        await using var first = await server.ConnectAsync();
        Assert.Equal(220, (await first.ReadReplyAsync()).Code);
        await using var second = await server.ConnectAsync();
        var refused = await second.ReadReplyAsync();
        Assert.Equal(421, refused.Code);
        Assert.Equal("4.3.2", refused.Status);
    }

    [Fact]
    public async Task Graceful_stop_answers_idle_sessions_with_421()
    {
        var server = await SocketSmtpServer.StartAsync();
        try
        {
            await using var c = await server.ConnectAsync();
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            Assert.Equal(250, (await c.CommandAsync("EHLO x.example")).Code);
            var stopping = server.StopAsync();
            var reply = await c.ReadReplyAsync();
            Assert.Equal(421, reply.Code);
            Assert.Equal("4.3.2", reply.Status);
            await stopping.WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Graceful_stop_lets_a_message_in_progress_finish()
    {
        var server = await SocketSmtpServer.StartAsync();
        try
        {
            await using var c = await server.ConnectAsync();
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            Assert.Equal(250, (await c.CommandAsync("EHLO x.example")).Code);
            Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
            Assert.Equal(250, (await c.CommandAsync("RCPT TO:<b@example.org>")).Code);
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            await c.SendAsync("Subject: during shutdown\r\n\r\n");
            var stopping = server.StopAsync();
            await Task.Delay(200);
            await c.SendAsync("body\r\n.\r\n");
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
            Assert.Equal(421, (await c.ReadReplyAsync()).Code);
            await stopping.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Single(server.Committed());
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    private static async Task<SmtpTestClient> RetryConnectAsync(SocketSmtpServer server)
    {
        // The first session's slot is released just after its socket closes; retry briefly.
        for (var attempt = 0; ; attempt++)
        {
            var c = await server.ConnectAsync();
            var greeting = await c.ReadReplyAsync();
            if (greeting.Code == 220 || attempt == 50)
            {
                Assert.Equal(220, greeting.Code);
                return c;
            }

            await c.DisposeAsync();
            await Task.Delay(20);
        }
    }
}
