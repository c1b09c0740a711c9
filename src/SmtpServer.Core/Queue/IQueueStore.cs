using System.IO.Pipelines;

namespace SmtpServer.Core.Queue;

/// <summary>
/// The durable spool (DESIGN.md, decision 1). A message is written through an
/// <see cref="IMessageSpool"/> and only exists in the queue once
/// <see cref="IMessageSpool.CommitAsync"/> has returned: bytes and envelopes written,
/// fsynced, renamed into place and the directory fsynced.
/// </summary>
internal interface IQueueStore
{
    /// <summary>
    /// True when the spool's file system has more free space (and inodes) than the configured
    /// minimum; the session answers MAIL with 452 4.3.1 otherwise.
    /// </summary>
    bool HasFreeSpace();

    /// <summary>Allocates a queue id and opens a temporary message file for it.</summary>
    ValueTask<IMessageSpool> CreateMessageAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A message being received. Disposing it without a successful commit removes every trace of
/// it from the spool.
/// </summary>
internal interface IMessageSpool : IAsyncDisposable
{
    QueueId Id { get; }

    /// <summary>Where the message bytes go, in order. The caller flushes as it goes.</summary>
    PipeWriter Writer { get; }

    /// <summary>Bytes written so far (after the writer was flushed).</summary>
    long Length { get; }

    /// <summary>
    /// Completes the writer, then makes the message and its envelopes durable. Throws when
    /// any step fails; the message is then not in the queue. Returns the message as it now
    /// stands in the queue, for the scheduler (<c>IScheduler.Enqueue</c>).
    /// </summary>
    ValueTask<StoredMessage> CommitAsync(MessageEnvelope envelope, CancellationToken cancellationToken);
}
