using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>
/// What the admin API (smtpctl) may do to a running scheduler: OpenSMTPD's <c>schedule</c>,
/// <c>remove</c>, <c>pause</c>/<c>resume</c> of envelopes, messages and the delivery sides
/// (mda: local agents, mta: relays). Every call runs on the scheduler's loop, so it never races
/// a delivery; an envelope in flight is left alone (and reported as skipped).
/// </summary>
internal interface ISchedulerControl
{
    /// <summary>The latest counts, refreshed by the loop after every batch of events.</summary>
    SchedulerStats Stats { get; }

    /// <summary>Makes the selected envelopes due now (paused ones stay paused).</summary>
    Task<ControlResult> ScheduleNowAsync(QueueSelector selector, CancellationToken cancellationToken);

    /// <summary>Removes the selected envelopes from the spool, with no bounce.</summary>
    Task<ControlResult> RemoveAsync(QueueSelector selector, CancellationToken cancellationToken);

    /// <summary>
    /// Pauses (or resumes) the selected envelopes; returns once the new state is in the spool
    /// (each envelope's <c>paused</c> field), so it holds across a restart.
    /// </summary>
    Task<ControlResult> PauseAsync(QueueSelector selector, bool paused, CancellationToken cancellationToken);

    /// <summary>
    /// Pauses (or resumes) every agent call of one side: local agents or relays. In memory only:
    /// the host keeps side pauses in the spool (<see cref="FileQueueStore.SaveSidePausesAsync"/>)
    /// and starts the scheduler with them (<see cref="SchedulerOptions.LocalPaused"/>).
    /// </summary>
    Task PauseSideAsync(bool local, bool paused, CancellationToken cancellationToken);

    /// <summary>The run-time state of every envelope the scheduler knows.</summary>
    Task<IReadOnlyDictionary<EnvelopeId, EnvelopeRuntimeState>> InspectAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Completes when nothing is running or ready (deliveries due now have been tried; those
    /// held back by a paused side do not count).
    /// </summary>
    Task WhenIdleAsync(CancellationToken cancellationToken);
}

internal enum EnvelopeRuntimeState
{
    /// <summary>Waiting for its next attempt.</summary>
    Pending,

    /// <summary>In an agent call, or held for its message's DSN.</summary>
    InFlight,

    Paused,
}

/// <summary>How many envelopes a control call changed, and how many it had to leave (in flight).</summary>
internal readonly record struct ControlResult(int Matched, int Skipped);

/// <summary>Counts of the schedule, for <c>show stats</c> and the queue gauges.</summary>
internal sealed record SchedulerStats(
    int Envelopes,
    int Messages,
    DateTimeOffset? Oldest,
    int InFlight,
    int Paused,
    bool LocalPaused,
    bool RelayPaused,
    bool Running)
{
    public static readonly SchedulerStats Empty = new(0, 0, null, 0, 0, false, false, false);
}

/// <summary>The target of a control call: every envelope, one message's, or one envelope.</summary>
internal readonly record struct QueueSelector(QueueId? Message, EnvelopeId? Envelope)
{
    public static readonly QueueSelector All = new(null, null);

    public bool IsAll => Message is null && Envelope is null;

    public bool Matches(EnvelopeId id) =>
        Envelope is { } envelope ? envelope == id : Message is not { } message || message == id.Message;

    /// <summary>"all", a message id (16 hex digits) or an envelope id (msgid-XXXX).</summary>
    public static bool TryParse(string? text, out QueueSelector selector)
    {
        selector = All;
        if (string.Equals(text, "all", StringComparison.Ordinal))
        {
            return true;
        }

        if (QueueId.TryParse(text, out var message))
        {
            selector = new QueueSelector(message, null);
            return true;
        }

        if (EnvelopeId.TryParse(text, out var envelope))
        {
            selector = new QueueSelector(null, envelope);
            return true;
        }

        return false;
    }

    public override string ToString() => Envelope?.ToString() ?? Message?.ToString() ?? "all";
}
