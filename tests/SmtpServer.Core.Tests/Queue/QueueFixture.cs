using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Queue;

/// <summary>A temp spool, a fake clock, and helpers to commit messages into it.</summary>
internal sealed class QueueFixture : IDisposable
{
    public QueueFixture() => Time = new FakeTimeProvider(new DateTimeOffset(2025, 11, 26, 8, 0, 0, TimeSpan.Zero));

    public TempDirectory Directory { get; } = new("smtpd-queue");

    public FakeTimeProvider Time { get; }

    public CollectingLogger<FileQueueStore> Logger { get; } = new();

    public FileQueueStore CreateStore(IQueueFileSystem? fileSystem = null, double minFreeSpacePercent = 5) =>
        new(new FileQueueStoreOptions(Directory.Path) { MinFreeSpacePercent = minFreeSpacePercent }, Time, Logger, fileSystem ?? QueueFileSystem.Instance);

    public static MessageEnvelope Envelope(QueueId id, DateTimeOffset receivedAt, params Mailbox[] recipients) => new()
    {
        Id = id,
        Sender = new Mailbox("sender", "example.org"),
        MailParameters = MailParameters.Empty,
        Recipients = [.. recipients.Select(r => new RecipientEnvelope(r, RcptParameters.Empty, "local"))],
        Listener = "mx",
        ClientAddress = "192.0.2.1",
        Helo = "client.example.org",
        ReceivedAt = receivedAt,
    };

    public static byte[] Body(string text = "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n") => Encoding.ASCII.GetBytes(text);

    public async Task<QueueId> CommitAsync(FileQueueStore store, byte[]? body = null, params Mailbox[] recipients)
    {
        var spool = await store.CreateMessageAsync(CancellationToken.None);
        await using (spool)
        {
            await spool.Writer.WriteAsync(body ?? Body());
            await spool.CommitAsync(Envelope(spool.Id, Time.GetUtcNow(), recipients.Length == 0 ? [new Mailbox("user", "example.net")] : recipients), CancellationToken.None);
            return spool.Id;
        }
    }

    public string[] FilesUnder(string relative)
    {
        var path = Directory.Combine(relative);
        return System.IO.Directory.Exists(path)
            ? [.. System.IO.Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(path, p)).Order(StringComparer.Ordinal)]
            : [];
    }

    public bool Logged(LogLevel level, int eventId) => Logger.Entries.Any(e => e.Level == level && e.EventId.Id == eventId);

    public void Dispose() => Directory.Dispose();
}
