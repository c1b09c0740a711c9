using System.IO.Pipelines;
using SmtpServer.Configuration;
using SmtpServer.Core.Queue;
using SmtpServer.Tests.Infrastructure;
using SmtpServer.Testing;

namespace SmtpServer.Tests.InMemory;

/// <summary>CHUNKING (RFC 3030) and queue failures seen from the client.</summary>
public sealed class ChunkingTests
{
    private static async Task<SmtpTestClient> OpenTransactionAsync(InMemorySmtpServer server)
    {
        var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<b@example.org>")).Code);
        return c;
    }

    [Fact]
    public async Task Chunks_make_one_message()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await OpenTransactionAsync(server);
        await c.SendAsync("BDAT 14\r\nSubject: x\r\n\r\n");
        Assert.Equal("250 2.0.0 14 octets received", (await c.ReadReplyAsync()).Text);

        // A chunk boundary inside CRLF, and pipelined chunks in one write.
        await c.SendAsync("BDAT 6\r\nline1\rBDAT 8 LAST\r\n\nline2\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        var last = await c.ReadReplyAsync();
        Assert.Equal(250, last.Code);
        Assert.EndsWith("Message accepted for delivery", last.Text, StringComparison.Ordinal);
        var stored = Assert.Single(server.Committed());
        var text = await File.ReadAllTextAsync(stored.MessagePath);
        Assert.StartsWith("Received: ", text, StringComparison.Ordinal);
        Assert.EndsWith(" +0000\r\nSubject: x\r\n\r\nline1\r\nline2\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Last_chunk_without_final_crlf_is_completed()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await OpenTransactionAsync(server);
        await c.SendAsync("BDAT 4 LAST\r\nbody");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.EndsWith("\r\nbody\r\n", await File.ReadAllTextAsync(Assert.Single(server.Committed()).MessagePath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Empty_last_chunk_ends_the_message()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await OpenTransactionAsync(server);
        await c.SendAsync("BDAT 4\r\nab\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        await c.SendAsync("BDAT 0 LAST\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.Equal(250, reply.Code);
        Assert.EndsWith("Message accepted for delivery", reply.Text, StringComparison.Ordinal);
        Assert.EndsWith("\r\nab\r\n", await File.ReadAllTextAsync(Assert.Single(server.Committed()).MessagePath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bare_line_feed_in_a_chunk_fails_the_message_at_that_chunk()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await OpenTransactionAsync(server);
        await c.SendAsync("BDAT 3\r\nab\n");
        var reply = await c.ReadReplyAsync();
        Assert.Equal(550, reply.Code);
        Assert.Equal("5.6.11", reply.Status);
        await c.SendAsync("BDAT 0 LAST\r\n");
        Assert.Equal(503, (await c.ReadReplyAsync()).Code);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Bdat_without_transaction_reads_the_chunk_then_refuses()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);

        // The chunk contains what looks like commands; none of it may be executed.
        await c.SendAsync("BDAT 12 LAST\r\nQUIT\r\nRSET\r\nNOOP\r\n");
        Assert.Equal(503, (await c.ReadReplyAsync()).Code);
        Assert.Equal("250 2.0.0 Ok", (await c.ReadReplyAsync()).Text);
    }

    [Fact]
    public async Task Data_after_bdat_is_out_of_sequence()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await OpenTransactionAsync(server);
        await c.SendAsync("BDAT 3\r\nab\r");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(503, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Oversized_chunks_fail_and_later_chunks_are_refused()
    {
        await using var server = new InMemorySmtpServer(s => s with { Limits = s.Limits with { MaxMessageSize = 10 } });
        await using var c = await OpenTransactionAsync(server);
        await c.SendAsync("BDAT 20\r\n0123456789012345678\n");
        var failed = await c.ReadReplyAsync();
        Assert.Equal(552, failed.Code);
        await c.SendAsync("BDAT 2 LAST\r\nab");
        Assert.Equal(503, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Bad_bdat_arguments()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(501, (await c.CommandAsync("BDAT")).Code);
        Assert.Equal(501, (await c.CommandAsync("BDAT x")).Code);
        Assert.Equal(501, (await c.CommandAsync("BDAT 1 FIRST")).Code);
    }

    [Fact]
    public async Task Commit_failure_gives_451_and_nothing_is_queued()
    {
        await using var server = new InMemorySmtpServer(wrapQueue: q => new FailingCommitStore(q));
        await using var c = await OpenTransactionAsync(server);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("x\r\n.\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.Equal(451, reply.Code);
        Assert.Equal("4.3.0", reply.Status);
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Full_disk_refuses_mail_with_452()
    {
        await using var server = new InMemorySmtpServer(s => s, wrapQueue: q => new FullDiskStore(q));
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal("452 4.3.1 Insufficient system storage", (await c.CommandAsync("MAIL FROM:<a@example.com>")).Text);
    }

    private sealed class FullDiskStore(IQueueStore inner) : IQueueStore
    {
        public bool HasFreeSpace() => false;

        public ValueTask<IMessageSpool> CreateMessageAsync(CancellationToken cancellationToken) => inner.CreateMessageAsync(cancellationToken);
    }

    private sealed class FailingCommitStore(IQueueStore inner) : IQueueStore
    {
        public bool HasFreeSpace() => true;

        public async ValueTask<IMessageSpool> CreateMessageAsync(CancellationToken cancellationToken) =>
            new FailingSpool(await inner.CreateMessageAsync(cancellationToken));
    }

    private sealed class FailingSpool(IMessageSpool inner) : IMessageSpool
    {
        public QueueId Id => inner.Id;

        public PipeWriter Writer => inner.Writer;

        public long Length => inner.Length;

        public ValueTask<StoredMessage> CommitAsync(MessageEnvelope envelope, CancellationToken cancellationToken) =>
            throw new IOException("No space left on device");

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
