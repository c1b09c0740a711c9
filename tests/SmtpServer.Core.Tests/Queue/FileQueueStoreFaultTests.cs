using System.Buffers;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Queue;

/// <summary>Every failing step of a commit throws from CommitAsync and leaves no message.</summary>
public sealed class FileQueueStoreFaultTests : IDisposable
{
    private readonly QueueFixture _fixture = new();
    private readonly FaultInjectingQueueFileSystem _fileSystem = new();

    public void Dispose() => _fixture.Dispose();

    public static TheoryData<string, int> Faults => new()
    {
        { "write-message", 100 },        // disk full inside the message bytes
        { "write-envelope", 4_096 + 10 }, // disk full inside the first envelope
        { "write-envelope", 4_096 + 700 }, // ... inside the second envelope
        { "fsync-file", 0 },              // message file
        { "fsync-file", 1 },              // first envelope
        { "fsync-file", 2 },              // second envelope
        { "fsync-dir", 0 },               // incoming/<id>
        { "fsync-dir", 1 },               // queue/ after creating the bucket
        { "fsync-dir", 2 },               // incoming/ after the rename
        { "fsync-dir", 3 },               // queue/XX/ after the rename
        { "rename", 0 },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Failed_commit_throws_and_leaves_no_message(string fault, int budget)
    {
        var store = _fixture.CreateStore(_fileSystem);
        var spool = await store.CreateMessageAsync(CancellationToken.None);
        var envelope = QueueFixture.Envelope(spool.Id, _fixture.Time.GetUtcNow(), new Mailbox("a", "example.net"), new Mailbox("b", "example.net"));
        switch (fault)
        {
            case "write-message" or "write-envelope": _fileSystem.WriteBudget = budget; break;
            case "fsync-file": _fileSystem.FlushToDiskBudget = budget; break;
            case "fsync-dir": _fileSystem.FlushDirectoryBudget = budget; break;
            default: _fileSystem.MoveDirectoryBudget = budget; break;
        }

        await using (spool)
        {
            // Unflushed: the bytes reach the file inside CommitAsync.
            spool.Writer.Write(new byte[4_096]);
            await Assert.ThrowsAsync<IOException>(async () => await spool.CommitAsync(envelope, CancellationToken.None));
        }

        // At least the injected failure; cleanup may meet the same fault again and carry on.
        Assert.True(_fileSystem.FailureCount >= 1);
        Assert.Empty(_fixture.FilesUnder("incoming"));
        Assert.DoesNotContain(_fixture.FilesUnder("queue"), p => p.Contains(spool.Id.ToString(), StringComparison.Ordinal));
        Assert.True(_fixture.Logged(Microsoft.Extensions.Logging.LogLevel.Error, 2003));
        _fileSystem.WriteBudget = _fileSystem.FlushToDiskBudget = _fileSystem.FlushDirectoryBudget = _fileSystem.MoveDirectoryBudget = null;
        Assert.Empty(_fixture.CreateStore().Load());

        // The store keeps working after the failure.
        var id = await _fixture.CommitAsync(store);
        Assert.Equal(id, Assert.Single(store.Load()).Id);
    }

    [Fact]
    public async Task Disk_full_while_streaming_fails_the_flush_and_dispose_cleans_up()
    {
        var store = _fixture.CreateStore(_fileSystem);
        _fileSystem.WriteBudget = 10;
        var spool = await store.CreateMessageAsync(CancellationToken.None);
        await using (spool)
        {
            await Assert.ThrowsAsync<IOException>(async () => await spool.Writer.WriteAsync(new byte[100]));
        }

        Assert.Empty(_fixture.FilesUnder("incoming"));
        Assert.Empty(store.Load());
    }

    [Fact]
    public async Task Cancelled_commit_leaves_no_message()
    {
        var store = _fixture.CreateStore();
        var spool = await store.CreateMessageAsync(CancellationToken.None);
        await using (spool)
        {
            await spool.Writer.WriteAsync(QueueFixture.Body());
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
                await spool.CommitAsync(QueueFixture.Envelope(spool.Id, _fixture.Time.GetUtcNow(), new Mailbox("a", "example.net")), new CancellationToken(canceled: true)));
        }

        Assert.Empty(_fixture.FilesUnder("incoming"));
        Assert.Empty(store.Load());
    }
}
