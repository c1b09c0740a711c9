using System.IO.Pipelines;

namespace SmtpServer.Core.Queue;

/// <summary>A message being received into incoming/&lt;msgid&gt;/ of a <see cref="FileQueueStore"/>.</summary>
internal sealed class FileMessageSpool : IMessageSpool
{
    private readonly FileQueueStore _store;
    private readonly string _directory;
    private readonly Stream _stream;
    private long _finalLength = -1;
    private int _state; // 0 open, 1 committing, 2 committed, 3 failed or disposed

    public FileMessageSpool(FileQueueStore store, QueueId id, string directory, Stream stream)
    {
        _store = store;
        Id = id;
        _directory = directory;
        _stream = stream;
        Writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public QueueId Id { get; }

    public PipeWriter Writer { get; }

    public long Length => Volatile.Read(ref _finalLength) is >= 0 and var length ? length : _stream.Position;

    public async ValueTask<StoredMessage> CommitAsync(MessageEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (envelope.Id != Id)
        {
            throw new ArgumentException($"Envelope of {envelope.Id} committed to spool {Id}.", nameof(envelope));
        }

        if (envelope.Recipients.Count is 0 or > EnvelopeId.MaxIndex + 1)
        {
            throw new ArgumentException($"A message needs 1 to {EnvelopeId.MaxIndex + 1} recipients.", nameof(envelope));
        }

        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException($"Message {Id} was already committed or discarded.");
        }

        var records = new EnvelopeRecord[envelope.Recipients.Count];
        try
        {
            // Message bytes: drain the pipe, then fsync before anything refers to them.
            await Writer.CompleteAsync().ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            _store.FileSystem.FlushToDisk(_stream);
            Volatile.Write(ref _finalLength, _stream.Position);
            await _stream.DisposeAsync().ConfigureAwait(false);

            // Envelopes: written in place, since nothing in incoming/ is ever read back; the
            // directory rename below is what makes them visible, together with the message.
            for (var i = 0; i < envelope.Recipients.Count; i++)
            {
                var record = records[i] = EnvelopeRecord.Create(envelope, i);
                var path = Path.Combine(_directory, record.Id + FileQueueStore.EnvelopeExtension);
                await _store.WriteFileDurablyAsync(path, FileQueueStore.Serialize(record), cancellationToken).ConfigureAwait(false);
            }

            cancellationToken.ThrowIfCancellationRequested();
            _store.Publish(Id, _directory);
        }
        catch (Exception e)
        {
            Volatile.Write(ref _state, 3);
            _store.LogCommitFailed(Id, e);
            await CloseStreamAsync().ConfigureAwait(false);
            _store.Discard(Id, _directory);
            throw;
        }

        Volatile.Write(ref _state, 2);
        _store.LogCommitted(Id, envelope.Recipients.Count, _finalLength);
        return new StoredMessage(Id, Path.Combine(_store.MessageDirectory(Id), FileQueueStore.MessageFileName), _finalLength, records);
    }

    public async ValueTask DisposeAsync()
    {
        // Only a spool that is still open owns files to remove; a committed one is in the
        // queue, a failed commit already cleaned up.
        if (Interlocked.CompareExchange(ref _state, 3, 0) != 0)
        {
            return;
        }

        await CloseStreamAsync().ConfigureAwait(false);
        _store.Discard(Id, _directory);
    }

    private async ValueTask CloseStreamAsync()
    {
        try
        {
            await Writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            // The bytes are being thrown away; a failure to flush them does not matter.
        }

        try
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
