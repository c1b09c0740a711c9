using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>
/// Moves committed mail: schedules each envelope's attempts, hands them to delivery agents,
/// retries, expires and bounces, and keeps each envelope's state in the spool.
/// </summary>
internal interface IScheduler
{
    /// <summary>
    /// Hands a just-committed message to the scheduler (the session calls it right after
    /// <see cref="IMessageSpool.CommitAsync"/>). Never blocks and never throws; the message is
    /// durable already, so a stopped scheduler simply finds it in the spool at the next start.
    /// </summary>
    void Enqueue(StoredMessage message);

    /// <summary>Loads the spool (before any delivery starts) and starts scheduling.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stops dispatching and waits for deliveries in progress until
    /// <paramref name="cancellationToken"/> fires; then cancels them (their envelopes stay queued).
    /// </summary>
    Task StopAsync(CancellationToken cancellationToken);
}
