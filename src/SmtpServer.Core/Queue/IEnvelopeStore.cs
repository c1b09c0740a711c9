namespace SmtpServer.Core.Queue;

/// <summary>
/// The queue as the scheduler sees it: what is in it at startup, and the state of each
/// recipient after every attempt. Implemented by <see cref="FileQueueStore"/>.
/// </summary>
internal interface IEnvelopeStore : IQueueStore
{
    /// <summary>Every committed message with its pending envelopes (startup only).</summary>
    IReadOnlyList<StoredMessage> Load(CancellationToken cancellationToken = default);

    /// <summary>Atomically replaces a committed envelope's record; throws when it is not in the queue.</summary>
    ValueTask UpdateEnvelopeAsync(EnvelopeRecord record, CancellationToken cancellationToken);

    /// <summary>Removes a finished envelope (the message goes with its last one); true when the message went.</summary>
    bool RemoveEnvelope(EnvelopeId id);
}
