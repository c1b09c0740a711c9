namespace SmtpServer.Core.Queue;

/// <summary>
/// A read-only view of a spool, for the admin API and for <c>smtpctl show queue</c> while the
/// server is stopped. Unlike <see cref="FileQueueStore.Load"/> it never moves, deletes or
/// creates anything: unreadable entries are skipped (and counted), temporary files ignored.
/// </summary>
internal static class QueueReader
{
    /// <summary>The committed messages under <paramref name="spoolRoot"/> (queue.path), by queue id.</summary>
    public static QueueSnapshot Read(string spoolRoot, CancellationToken cancellationToken = default)
    {
        var queuePath = Path.Combine(Path.GetFullPath(spoolRoot), "queue");
        var messages = new List<StoredMessage>();
        var unreadable = 0;
        if (!Directory.Exists(queuePath))
        {
            return new QueueSnapshot(messages, unreadable);
        }

        foreach (var bucket in SafeEnumerate(queuePath))
        {
            foreach (var directory in SafeEnumerate(bucket))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!QueueId.TryParse(Path.GetFileName(directory), out var id))
                {
                    unreadable++;
                    continue;
                }

                if (ReadMessage(directory, id, ref unreadable) is { } message)
                {
                    messages.Add(message);
                }
            }
        }

        messages.Sort((a, b) => a.Id.CompareTo(b.Id));
        return new QueueSnapshot(messages, unreadable);
    }

    /// <summary>One message, or null when it is not (or no longer) in the spool.</summary>
    public static StoredMessage? ReadMessage(string spoolRoot, QueueId id)
    {
        var directory = MessageDirectory(spoolRoot, id);
        var unreadable = 0;
        return Directory.Exists(directory) ? ReadMessage(directory, id, ref unreadable) : null;
    }

    public static string MessageDirectory(string spoolRoot, QueueId id) =>
        Path.Combine(Path.GetFullPath(spoolRoot), "queue", FileQueueStore.Bucket(id), id.ToString());

    private static StoredMessage? ReadMessage(string directory, QueueId id, ref int unreadable)
    {
        var messagePath = Path.Combine(directory, FileQueueStore.MessageFileName);
        var envelopes = new List<EnvelopeRecord>();
        foreach (var path in SafeEnumerate(directory))
        {
            var name = Path.GetFileName(path);
            if (!name.EndsWith(FileQueueStore.EnvelopeExtension, StringComparison.Ordinal))
            {
                continue;
            }

            EnvelopeRecord? record;
            try
            {
                record = FileQueueStore.TryReadEnvelope(path, name, id, out _);
            }
            catch (UnauthorizedAccessException)
            {
                record = null;
            }
            catch (IOException) when (!File.Exists(path))
            {
                // Delivered (and removed) while we looked: not unreadable, just gone.
                continue;
            }

            if (record is not null)
            {
                envelopes.Add(record);
            }
            else
            {
                unreadable++;
            }
        }

        if (envelopes.Count == 0 || !File.Exists(messagePath))
        {
            return null;
        }

        envelopes.Sort((a, b) => a.Id.CompareTo(b.Id));
        long size;
        try
        {
            size = new FileInfo(messagePath).Length;
        }
        catch (IOException)
        {
            size = 0;
        }

        return new StoredMessage(id, messagePath, size, envelopes);
    }

    /// <summary>A directory that vanishes while we look (delivered meanwhile) is just empty.</summary>
    private static IEnumerable<string> SafeEnumerate(string directory)
    {
        try
        {
            return Directory.Exists(directory) ? Directory.GetFileSystemEntries(directory).Order(StringComparer.Ordinal).ToArray() : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}

/// <summary>What <see cref="QueueReader.Read"/> found: messages, and how many entries it could not read.</summary>
internal sealed record QueueSnapshot(IReadOnlyList<StoredMessage> Messages, int Unreadable);
