using SmtpServer.Core.Bounces;
using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>An envelope waiting for its DSN before it is removed (failed, delivered) or updated (delayed).</summary>
/// <param name="Kind">Which DSN.</param>
/// <param name="Dsn">What the DSN says about it.</param>
/// <param name="RetryBase">Its agent's retry base, should the DSN fail to commit.</param>
/// <param name="WarnedStep">For a delay warning: the queue.delayWarnings step it is for.</param>
internal sealed record HeldEnvelope(DsnKind Kind, DsnRecipient Dsn, TimeSpan RetryBase, TimeSpan? WarnedStep = null)
{
    public EnvelopeRecord Record => Dsn.Envelope;
}
