using System.Text;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.InMemory;

/// <summary>Replies to failures on our side: a temporary failure, never a wrong answer or a loss.</summary>
public sealed class FailureReplyTests
{
    [Fact]
    public async Task Failing_rule_lookup_gives_451_not_a_wrong_answer()
    {
        await using var server = new InMemorySmtpServer(s => s with { Router = new ThrowingRouter() });
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal("451 4.3.0 Temporary failure", (await c.CommandAsync("RCPT TO:<b@example.org>")).Text);
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task Spool_that_cannot_be_opened_gives_451_at_data()
    {
        await using var server = new InMemorySmtpServer(wrapQueue: q => new UnopenableStore());
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<b@example.org>")).Code);
        var reply = await c.CommandAsync("DATA");
        Assert.Equal(451, reply.Code);
        Assert.Equal("4.3.0", reply.Status);
        await c.SendAsync("BDAT 3 LAST\r\nabc");
        Assert.Equal(451, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task Header_section_over_the_limit_gives_552()
    {
        await using var server = new InMemorySmtpServer(s => s with { Limits = s.Limits with { MaxHeaderSize = 1024 } });
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<b@example.org>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        var headers = new StringBuilder();
        for (var i = 0; i < 40; i++)
        {
            headers.Append("X-Filler: 0123456789012345678901234567890123456789\r\n");
        }

        await c.SendAsync(headers + "\r\nbody\r\n.\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.Equal(552, reply.Code);
        Assert.Equal("5.3.4", reply.Status);
        Assert.Empty(server.Committed());
    }

    private sealed class ThrowingRouter : IRouter
    {
        public ValueTask<RouteDecision> RouteAsync(RoutingRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromException<RouteDecision>(new IOException("table unreadable"));
    }

    private sealed class UnopenableStore : IQueueStore
    {
        public bool HasFreeSpace() => true;

        public ValueTask<IMessageSpool> CreateMessageAsync(CancellationToken cancellationToken) =>
            ValueTask.FromException<IMessageSpool>(new IOException("Permission denied"));
    }
}
