using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Bounces;

/// <summary>Builds a DSN and commits it into the queue like any message.</summary>
internal interface IBounceSender
{
    /// <summary>
    /// Routes the original sender's address from a local source, writes the DSN and commits it
    /// (durably, with its routed recipient). Returns the committed message for the scheduler,
    /// or null when no rule accepts the address (the DSN is dropped and logged; never looped).
    /// Throws when the DSN could not be committed (the caller keeps the original envelopes).
    /// </summary>
    ValueTask<StoredMessage?> SendAsync(DsnReport report, CancellationToken cancellationToken);
}
