namespace SmtpServer.Core.Scheduling;

/// <summary>
/// Settings of <see cref="Scheduler"/>. Defaults are OpenSMTPD's (REFERENCE.md §1.7, §1.16)
/// where it has one.
/// </summary>
internal sealed record SchedulerOptions
{
    /// <summary>queue.expire: an envelope still queued this long after arrival bounces with 5.4.7.</summary>
    public TimeSpan Expire { get; init; } = TimeSpan.FromDays(4);

    /// <summary>queue.delayWarnings: a delay DSN once per step still undelivered (at most the largest step passed).</summary>
    public IReadOnlyList<TimeSpan> DelayWarnings { get; init; } = [TimeSpan.FromHours(4)];

    /// <summary>Retry base of local agents: the n-th retry is at arrival + base·n² (scheduler_ramqueue.c).</summary>
    public TimeSpan LocalRetryBase { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Retry base of relays (and of envelopes whose action is unknown).</summary>
    public TimeSpan RelayRetryBase { get; init; } = TimeSpan.FromSeconds(400);

    /// <summary>Agent calls in flight in total (proposed key: queue.maxDeliveries).</summary>
    public int MaxConcurrentDeliveries { get; init; } = 100;

    /// <summary>Agent calls in flight per action (proposed key: actions.NAME.maxDeliveries).</summary>
    public int MaxConcurrentDeliveriesPerAction { get; init; } = 10;

    /// <summary>Per-action overrides of <see cref="MaxConcurrentDeliveriesPerAction"/>, by action name (case-insensitive).</summary>
    public IReadOnlyDictionary<string, int> ActionConcurrency { get; init; } = new Dictionary<string, int>();

    /// <summary>Local agents start paused (<c>pause mda</c>, kept across a restart by the host).</summary>
    public bool LocalPaused { get; init; }

    /// <summary>Relays start paused (<c>pause mta</c>, kept across a restart by the host).</summary>
    public bool RelayPaused { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Expire, TimeSpan.Zero, nameof(Expire));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(LocalRetryBase, TimeSpan.Zero, nameof(LocalRetryBase));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RelayRetryBase, TimeSpan.Zero, nameof(RelayRetryBase));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentDeliveries, 1, nameof(MaxConcurrentDeliveries));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentDeliveriesPerAction, 1, nameof(MaxConcurrentDeliveriesPerAction));
        foreach (var step in DelayWarnings)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(step, TimeSpan.Zero, nameof(DelayWarnings));
        }

        foreach (var (action, limit) in ActionConcurrency)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1, $"{nameof(ActionConcurrency)}[{action}]");
        }
    }
}
