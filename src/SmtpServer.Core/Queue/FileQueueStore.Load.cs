using System.Text.Json;

namespace SmtpServer.Core.Queue;

internal sealed partial class FileQueueStore
{
    // An envelope is a few hundred bytes; anything this large was not written by us.
    private const long MaxEnvelopeFileSize = 1 << 20;

    /// <summary>
    /// Reads every committed message and its envelopes, sorted by queue id (arrival order), for
    /// the scheduler to rebuild from at startup. Anything unreadable (an unexpected name, a
    /// message without its message file, an envelope that does not parse or validate) is moved
    /// to corrupt/ and logged, and loading goes on. Meant for startup, before deliveries run:
    /// it removes interrupted <c>*.json.tmp</c> updates.
    /// </summary>
    public IReadOnlyList<StoredMessage> Load(CancellationToken cancellationToken = default)
    {
        var messages = new List<StoredMessage>();
        var envelopes = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(QueuePath).Order(StringComparer.Ordinal))
        {
            var bucket = Path.GetFileName(entry);
            if (!Directory.Exists(entry) || bucket.Length != 2 || !bucket.All(c => char.IsAsciiDigit(c) || char.IsAsciiHexDigitLower(c)))
            {
                MoveToCorrupt(entry, bucket, "not a queue bucket");
                continue;
            }

            foreach (var item in Directory.EnumerateFileSystemEntries(entry))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (LoadMessage(item, bucket) is { } message)
                {
                    messages.Add(message);
                    envelopes += message.Envelopes.Count;
                }
            }
        }

        messages.Sort((a, b) => a.Id.CompareTo(b.Id));
        QueueLog.QueueLoaded(_logger, messages.Count, envelopes);
        return messages;
    }

    private StoredMessage? LoadMessage(string directory, string bucket)
    {
        var name = Path.GetFileName(directory);
        if (!Directory.Exists(directory) || !QueueId.TryParse(name, out var id) || Bucket(id) != bucket)
        {
            MoveToCorrupt(directory, name, "not a message directory");
            return null;
        }

        var messagePath = Path.Combine(directory, MessageFileName);
        if (!File.Exists(messagePath) && !Directory.EnumerateFileSystemEntries(directory).Any())
        {
            // An empty directory is a removal that a crash interrupted (spools written before
            // removals went through incoming/): the message was delivered; finish the removal.
            _fileSystem.DeleteDirectory(directory);
            return null;
        }

        if (!File.Exists(messagePath))
        {
            MoveToCorrupt(directory, name, "no message file");
            return null;
        }

        var envelopes = new List<EnvelopeRecord>();
        var corrupt = 0;
        foreach (var path in Directory.EnumerateFileSystemEntries(directory))
        {
            var fileName = Path.GetFileName(path);
            if (fileName == MessageFileName)
            {
                continue;
            }

            if (fileName.EndsWith(EnvelopeExtension + TemporaryExtension, StringComparison.Ordinal) && File.Exists(path))
            {
                // An update interrupted before its rename: the previous record still stands.
                _fileSystem.DeleteFile(path);
                QueueLog.TemporaryFileRemoved(_logger, path);
                continue;
            }

            if (TryReadEnvelope(path, fileName, id, out var reason) is { } record)
            {
                envelopes.Add(record);
            }
            else
            {
                corrupt++;
                MoveToCorrupt(path, $"{name}-{fileName}", reason);
            }
        }

        if (envelopes.Count == 0)
        {
            if (corrupt > 0)
            {
                // Keep the message with what is left of it, for the operator.
                MoveToCorrupt(directory, name, "no readable envelopes");
            }
            else
            {
                // Every recipient was done; the crash came before the message was removed.
                _fileSystem.DeleteDirectory(directory);
                _fileSystem.FlushDirectory(Path.GetDirectoryName(directory)!);
                QueueLog.EmptyMessageRemoved(_logger, id);
            }

            return null;
        }

        envelopes.Sort((a, b) => a.Id.CompareTo(b.Id));
        return new StoredMessage(id, messagePath, new FileInfo(messagePath).Length, envelopes);
    }

    internal static EnvelopeRecord? TryReadEnvelope(string path, string fileName, QueueId id, out string reason)
    {
        if (!fileName.EndsWith(EnvelopeExtension, StringComparison.Ordinal) || !File.Exists(path))
        {
            reason = "unexpected file";
            return null;
        }

        try
        {
            if (new FileInfo(path).Length > MaxEnvelopeFileSize)
            {
                reason = "envelope file too large";
                return null;
            }

            var record = JsonSerializer.Deserialize(File.ReadAllBytes(path), QueueJsonContext.Default.EnvelopeRecord);
            if (record is null)
            {
                reason = "empty record";
                return null;
            }

            reason = record.Validate(id, fileName) ?? string.Empty;
            return reason.Length == 0 ? record : null;
        }
        catch (JsonException e)
        {
            reason = e.Message;
            return null;
        }
        catch (IOException e)
        {
            reason = e.Message;
            return null;
        }
    }

    private void MoveToCorrupt(string path, string name, string reason)
    {
        try
        {
            var destination = Path.Combine(CorruptPath, name);
            for (var n = 1; File.Exists(destination) || Directory.Exists(destination); n++)
            {
                destination = Path.Combine(CorruptPath, $"{name}.{n}");
            }

            if (Directory.Exists(path))
            {
                _fileSystem.MoveDirectory(path, destination);
            }
            else
            {
                _fileSystem.MoveFile(path, destination, overwrite: false);
            }

            _fileSystem.FlushDirectory(CorruptPath);
            _fileSystem.FlushDirectory(Path.GetDirectoryName(path)!);
            QueueLog.CorruptMoved(_logger, path, destination, reason);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Never stop the server for one bad entry; it is skipped and retried next start.
            QueueLog.CorruptMoveFailed(_logger, path, e);
        }
    }
}
