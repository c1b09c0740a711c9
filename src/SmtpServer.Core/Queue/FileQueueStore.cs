using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace SmtpServer.Core.Queue;

/// <summary>
/// The durable spool on a local file system, after OpenSMTPD's queue_fs.c. Layout under
/// <see cref="FileQueueStoreOptions.Path"/>:
/// <code>
/// incoming/&lt;msgid&gt;/message                  being received; removed at startup (never committed)
/// incoming/&lt;msgid&gt;/&lt;evpid&gt;.json           envelopes, written during commit
/// queue/&lt;XX&gt;/&lt;msgid&gt;/message              committed: the message as received (Received + content, CRLF)
/// queue/&lt;XX&gt;/&lt;msgid&gt;/&lt;evpid&gt;.json       one envelope per pending recipient
/// corrupt/&lt;name&gt;                          unreadable entries moved aside by Load
/// </code>
/// XX is the low byte of the queue id in hex (the random bits, so 256 evenly filled buckets keep
/// directories small in large queues). A commit is one rename of the whole message directory
/// from incoming/ to queue/XX/, so a message appears with all its envelopes or not at all.
/// Envelopes are one file per recipient because the scheduler updates each recipient's state
/// after every attempt: a small file replaced by write-temp + fsync + rename
/// (<see cref="UpdateEnvelopeAsync"/>) never rewrites, or risks, the other recipients' state.
/// Group commit is not done: each commit pays its own fsyncs.
/// </summary>
internal sealed partial class FileQueueStore : IEnvelopeStore
{
    internal const string MessageFileName = "message";
    internal const string EnvelopeExtension = ".json";
    internal const string TemporaryExtension = ".tmp";

    private static readonly TimeSpan FreeSpaceCacheTime = TimeSpan.FromSeconds(1);

    private readonly FileQueueStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IQueueFileSystem _fileSystem;
    private FreeSpaceSample? _freeSpace;

    internal IQueueFileSystem FileSystem => _fileSystem;

    public FileQueueStore(FileQueueStoreOptions options, TimeProvider timeProvider, ILogger<FileQueueStore> logger)
        : this(options, timeProvider, logger, QueueFileSystem.Instance)
    {
    }

    // For testing: a file system that fails on demand.
    internal FileQueueStore(FileQueueStoreOptions options, TimeProvider timeProvider, ILogger<FileQueueStore> logger, IQueueFileSystem fileSystem)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentException.ThrowIfNullOrEmpty(options.Path);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MinFreeSpacePercent, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.MinFreeSpacePercent, 100);

        _options = options;
        _time = timeProvider;
        _logger = logger;
        _fileSystem = fileSystem;
        RootPath = Path.GetFullPath(options.Path);
        IncomingPath = Path.Combine(RootPath, "incoming");
        QueuePath = Path.Combine(RootPath, "queue");
        CorruptPath = Path.Combine(RootPath, "corrupt");
        Initialize();
    }

    public string RootPath { get; }

    public string IncomingPath { get; }

    public string QueuePath { get; }

    public string CorruptPath { get; }

    public bool HasFreeSpace()
    {
        var sample = Volatile.Read(ref _freeSpace);
        var now = _time.GetTimestamp();
        if (sample is not null && _time.GetElapsedTime(sample.Timestamp, now) < FreeSpaceCacheTime)
        {
            return sample.HasFreeSpace;
        }

        bool hasFreeSpace;
        if (PosixFile.TryGetFreeSpace(QueuePath, out var blocks, out var inodes, out var errno))
        {
            var min = _options.MinFreeSpacePercent;
            hasFreeSpace = blocks >= min && inodes >= min;
            if (!hasFreeSpace)
            {
                QueueLog.LowFreeSpace(_logger, QueuePath, blocks, inodes, min);
            }
        }
        else
        {
            // As OpenSMTPD: when the space cannot be measured, do not take responsibility for mail.
            QueueLog.StatvfsFailed(_logger, QueuePath, errno);
            hasFreeSpace = false;
        }

        Volatile.Write(ref _freeSpace, new FreeSpaceSample(now, hasFreeSpace));
        return hasFreeSpace;
    }

    public ValueTask<IMessageSpool> CreateMessageAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // QueueId.New is strictly increasing within the process, and incoming/ is emptied at
        // startup, so only a clock that went back across a restart can meet an existing id.
        QueueId id;
        do
        {
            id = QueueId.New(_time);
        }
        while (Directory.Exists(MessageDirectory(id)));

        var directory = Path.Combine(IncomingPath, id.ToString());
        _fileSystem.CreateDirectory(directory);
        Stream stream;
        try
        {
            stream = _fileSystem.CreateFile(Path.Combine(directory, MessageFileName));
        }
        catch
        {
            TryDeleteDirectory(directory, id);
            throw;
        }

        return ValueTask.FromResult<IMessageSpool>(new FileMessageSpool(this, id, directory, stream));
    }

    /// <summary>queue/XX/&lt;msgid&gt;: where a committed message lives.</summary>
    public string MessageDirectory(QueueId id) => Path.Combine(QueuePath, Bucket(id), id.ToString());

    /// <summary>
    /// Replaces a committed envelope (the scheduler's state after an attempt): write
    /// &lt;evpid&gt;.json.tmp, fsync, rename over the old record, fsync the directory.
    /// </summary>
    public async ValueTask UpdateEnvelopeAsync(EnvelopeRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var directory = MessageDirectory(record.MessageId);
        var path = Path.Combine(directory, record.Id + EnvelopeExtension);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"Envelope {record.Id} is not in the queue.");
        }

        var temporary = path + TemporaryExtension;
        try
        {
            await WriteFileDurablyAsync(temporary, Serialize(record), cancellationToken).ConfigureAwait(false);
            _fileSystem.MoveFile(temporary, path, overwrite: true);
        }
        catch
        {
            TryDeleteFile(temporary);
            throw;
        }

        _fileSystem.FlushDirectory(directory);
    }

    /// <summary>
    /// Removes a delivered (or bounced) envelope; the message goes with its last envelope.
    /// Returns true when the message was removed.
    /// </summary>
    public bool RemoveEnvelope(EnvelopeId id)
    {
        var directory = MessageDirectory(id.Message);
        try
        {
            _fileSystem.DeleteFile(Path.Combine(directory, id + EnvelopeExtension));
            _fileSystem.FlushDirectory(directory);
            if (Directory.EnumerateFiles(directory, "*" + EnvelopeExtension).Any())
            {
                return false;
            }
        }
        catch (IOException) when (!Directory.Exists(directory))
        {
            // Another envelope of the message, removed at the same time, was the last one and
            // took the directory with it: this envelope is gone too.
            return true;
        }

        // A recursive delete is not atomic: a crash half-way would leave a message directory
        // without its message file in queue/. Move it out of queue/ first (one rename), into
        // incoming/, which start-up empties, then delete it at leisure.
        var purge = Path.Combine(IncomingPath, id.Message + PurgeSuffix);
        try
        {
            _fileSystem.MoveDirectory(directory, purge);
        }
        catch (IOException) when (!Directory.Exists(directory))
        {
            // Another caller removed the last envelope at the same time.
            return true;
        }

        _fileSystem.FlushDirectory(Path.GetDirectoryName(directory)!);
        _fileSystem.DeleteDirectory(purge);
        return true;
    }

    private const string PurgeSuffix = ".purge";

    internal static string Bucket(QueueId id) => (id.Value & 0xFF).ToString("x2", CultureInfo.InvariantCulture);

    internal static byte[] Serialize(EnvelopeRecord record) =>
        JsonSerializer.SerializeToUtf8Bytes(record, QueueJsonContext.Default.EnvelopeRecord);

    /// <summary>Writes a new file and fsyncs it; the caller fsyncs the directory.</summary>
    internal async ValueTask WriteFileDurablyAsync(string path, byte[] contents, CancellationToken cancellationToken)
    {
        var stream = _fileSystem.CreateFile(path);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(contents, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            _fileSystem.FlushToDisk(stream);
        }
    }

    /// <summary>
    /// The commit point: every file in <paramref name="incomingDirectory"/> is already fsynced;
    /// make the directory's entries durable, rename it into queue/XX/ and make both parents
    /// durable. After a crash the message is either wholly in incoming/ (removed at startup)
    /// or wholly in queue/.
    /// </summary>
    internal void Publish(QueueId id, string incomingDirectory)
    {
        _fileSystem.FlushDirectory(incomingDirectory);

        var destination = MessageDirectory(id);
        var bucket = Path.GetDirectoryName(destination)!;
        if (!Directory.Exists(bucket))
        {
            _fileSystem.CreateDirectory(bucket);
            _fileSystem.FlushDirectory(QueuePath);
        }

        _fileSystem.MoveDirectory(incomingDirectory, destination);
        _fileSystem.FlushDirectory(IncomingPath);
        _fileSystem.FlushDirectory(bucket);
    }

    internal void LogCommitted(QueueId id, int recipients, long size) => QueueLog.MessageCommitted(_logger, id, recipients, size);

    internal void LogCommitFailed(QueueId id, Exception exception) => QueueLog.CommitFailed(_logger, id, exception);

    /// <summary>Removes what a failed or abandoned message left, wherever the commit got to.</summary>
    internal void Discard(QueueId id, string incomingDirectory)
    {
        TryDeleteDirectory(incomingDirectory, id);
        var committed = MessageDirectory(id);
        if (Directory.Exists(committed))
        {
            // The rename happened but a later fsync failed: the client gets a temporary error
            // and will send again, so take the message back out (best effort; if it survives a
            // crash anyway it is delivered twice, never lost).
            TryDeleteDirectory(committed, id);
            try
            {
                _fileSystem.FlushDirectory(Path.GetDirectoryName(committed)!);
            }
            catch (IOException)
            {
            }
        }
    }

    private void Initialize()
    {
        foreach (var directory in new[] { RootPath, IncomingPath, QueuePath, CorruptPath })
        {
            _fileSystem.CreateDirectory(directory);
        }

        // Anything in incoming/ was never acknowledged with a 250: drop it.
        foreach (var entry in Directory.EnumerateFileSystemEntries(IncomingPath))
        {
            if (Directory.Exists(entry))
            {
                _fileSystem.DeleteDirectory(entry);
            }
            else
            {
                _fileSystem.DeleteFile(entry);
            }

            QueueLog.IncomingLeftoverRemoved(_logger, Path.GetFileName(entry));
        }

        _fileSystem.FlushDirectory(IncomingPath);
        _fileSystem.FlushDirectory(RootPath);
        QueueLog.QueueOpened(_logger, RootPath);
    }

    private void TryDeleteDirectory(string directory, QueueId id)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                _fileSystem.DeleteDirectory(directory);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Startup removes it from incoming/ if it stays.
            QueueLog.DiscardFailed(_logger, id, e);
        }
    }

    private void TryDeleteFile(string path)
    {
        try
        {
            _fileSystem.DeleteFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Load removes leftover temporary files.
        }
    }

    private sealed record FreeSpaceSample(long Timestamp, bool HasFreeSpace);
}
