namespace SmtpServer.Core.Queue;

/// <summary>A committed message as found in the spool by <see cref="FileQueueStore.Load"/>.</summary>
/// <param name="Id">The queue id (its directory name).</param>
/// <param name="MessagePath">The message file: our Received header and the content, CRLF, as received.</param>
/// <param name="Size">Length of the message file in bytes.</param>
/// <param name="Envelopes">The envelopes still pending, in recipient order.</param>
internal sealed record StoredMessage(QueueId Id, string MessagePath, long Size, IReadOnlyList<EnvelopeRecord> Envelopes);
