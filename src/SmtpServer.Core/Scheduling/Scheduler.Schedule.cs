using SmtpServer.Core.Bounces;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>The in-memory schedule. Everything here runs on the loop (or in StartAsync before it).</summary>
internal sealed partial class Scheduler
{
    private readonly TimeSpan[] _warningSteps;
    private Dictionary<string, int> _actionConcurrency;
    private readonly Dictionary<EnvelopeId, Entry> _entries = [];
    private readonly HashSet<QueueId> _loadedAtStart = [];

    // Envelopes by due time. An entry is re-queued with a new generation whenever it is
    // rescheduled; queue items of an older generation are skipped when they come up.
    private readonly PriorityQueue<(Entry Entry, int Generation), DateTimeOffset> _timeline = new();
    private readonly Dictionary<string, ActionQueue> _actions = new(StringComparer.OrdinalIgnoreCase);

    // Per action name, across reloads: a reloaded action's old and new agents share its limit.
    private readonly Dictionary<string, ActionSlots> _slots = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<TaskCompletionSource<DateTimeOffset?>> _idleWaiters = [];
    private DateTimeOffset _timerDue = DateTimeOffset.MaxValue;
    private int _jobs;
    private int _deliveries;
    private int _ready;

    private int Add(StoredMessage message)
    {
        // A message can be announced twice (committed while Load ran) or after it was already
        // delivered and removed: only what is still in the spool and not yet known counts.
        if (!File.Exists(message.MessagePath))
        {
            SchedulerLog.StaleMessage(_logger, message.Id);
            return 0;
        }

        var added = 0;
        foreach (var record in message.Envelopes)
        {
            if (_entries.ContainsKey(record.Id))
            {
                continue;
            }

            // A pause recorded in the spool holds across a restart.
            var entry = new Entry(message, record) { Paused = record.Paused };
            _entries.Add(record.Id, entry);
            Track(record.Id.Message);
            if (entry.Paused)
            {
                _pausedEntries++;
            }

            Schedule(entry);
            added++;
        }

        return added;
    }

    private void Schedule(Entry entry)
    {
        entry.Busy = false;
        entry.Generation++;
        _timeline.Enqueue((entry, entry.Generation), DueOf(entry.Record));
    }

    private void Finished(JobOutcome outcome)
    {
        _jobs--;
        if (outcome.Queue is { } queue)
        {
            queue.InFlight--;
            queue.Slots.InFlight--;
            _deliveries--;
            if (queue.Retired)
            {
                RetireIfIdle(queue);
            }
        }

        foreach (var id in outcome.Done)
        {
            Forget(id);
        }

        List<Entry>? rewrite = null;
        foreach (var record in outcome.Reschedule)
        {
            if (!_entries.TryGetValue(record.Id, out var entry))
            {
                continue;
            }

            if (record.Paused != entry.Paused)
            {
                // Paused or resumed while its job ran: the job wrote the state it started
                // with, so the spool gets the operator's word again before the entry moves.
                entry.Record = record with { Paused = entry.Paused };
                (rewrite ??= []).Add(entry);
                continue;
            }

            entry.Record = record;
            Schedule(entry);
        }

        if (rewrite is not null)
        {
            _ = Rewrite(rewrite);
        }
    }

    private void Pump()
    {
        var now = _time.GetUtcNow();
        StartDue(now);
        Dispatch();
        ArmTimer(now);

        // Stats first: whoever waited for idle reads counts that include this batch.
        PublishStats();
        AnswerIdleWaiters();
    }

    private void StartDue(DateTimeOffset now)
    {
        List<Entry>? due = null;
        while (_timeline.TryPeek(out var item, out var at) && at <= now)
        {
            _timeline.Dequeue();
            if (IsCurrent(item))
            {
                (due ??= []).Add(item.Entry);
            }
        }

        if (due is null)
        {
            return;
        }

        foreach (var message in due.GroupBy(e => e.Record.MessageId))
        {
            StartPass([.. message.OrderBy(e => e.Record.Id)], now);
        }
    }

    /// <summary>
    /// One pass over the due recipients of one message: expired ones bounce, those whose
    /// attempt is due go to their agent grouped by destination, those only due for a delay
    /// warning get one. Their DSNs are sent together when the pass's last job ends.
    /// </summary>
    private void StartPass(List<Entry> entries, DateTimeOffset now)
    {
        var pass = new MessagePass(entries[0].Message);
        var deliveries = new Dictionary<(ActionQueue Queue, string Destination), List<EnvelopeRecord>>();
        List<EnvelopeRecord>? expired = null;
        List<EnvelopeRecord>? unknownAction = null;
        List<(EnvelopeRecord Record, TimeSpan Step)>? warnings = null;
        foreach (var entry in entries)
        {
            var record = entry.Record;
            entry.Busy = true;
            if (now >= ExpiresAt(record))
            {
                (expired ??= []).Add(record);
            }
            else if (record.NextAttempt is not { } next || next <= now)
            {
                if (QueueFor(record.Action) is { } queue)
                {
                    var key = (queue, DestinationOf(queue.Agent, record));
                    if (!deliveries.TryGetValue(key, out var batch))
                    {
                        deliveries.Add(key, batch = []);
                    }

                    batch.Add(record);
                    entry.Waiting = true;
                }
                else
                {
                    (unknownAction ??= []).Add(record);
                    _unknownActions.Add(record.Action);
                }
            }
            else if (WarningStepAt(record, now) is { } step)
            {
                (warnings ??= []).Add((record, step));
            }
            else
            {
                Schedule(entry);
            }
        }

        var jobs = deliveries.Count + (expired is null ? 0 : 1) + (unknownAction is null ? 0 : 1) + (warnings is null ? 0 : 1);
        if (jobs == 0)
        {
            return;
        }

        // Counted before any job starts, so that none can end the pass early.
        pass.Jobs = jobs;
        foreach (var ((queue, _), records) in deliveries)
        {
            queue.Ready.Enqueue(new PendingDelivery(queue, pass, records));
            _ready++;
        }

        if (expired is not null)
        {
            StartJob(null, pass, expired, outcome => ExpireAsync(pass, expired, outcome));
        }

        if (unknownAction is not null)
        {
            StartJob(null, pass, unknownAction, outcome => UnknownActionAsync(pass, unknownAction, outcome));
        }

        if (warnings is not null)
        {
            StartJob(null, pass, [.. warnings.Select(w => w.Record)], outcome => WarnAsync(pass, warnings, outcome));
        }
    }

    /// <summary>Starts ready agent calls, one per action in turn, within the total and per-action limits.</summary>
    private void Dispatch()
    {
        var progress = true;
        while (progress && _ready > 0 && _deliveries < _maxDeliveries)
        {
            progress = false;
            foreach (var queue in _actions.Values)
            {
                if (_deliveries >= _maxDeliveries)
                {
                    break;
                }

                if (queue.Slots.InFlight >= queue.Slots.Limit || IsSidePaused(queue) || !queue.Ready.TryDequeue(out var delivery))
                {
                    continue;
                }

                _ready--;
                progress = true;
                var records = Claim(delivery);
                if (records.Count == 0)
                {
                    // Every recipient was paused while it waited: no agent call, but the pass
                    // still counts this job (its other jobs' DSNs go when the last one ends).
                    StartJob(null, delivery.Pass, records, _ => Task.CompletedTask);
                    continue;
                }

                queue.InFlight++;
                queue.Slots.InFlight++;
                _deliveries++;
                var claimed = delivery with { Records = records };
                StartJob(queue, delivery.Pass, records, outcome => DeliverAsync(claimed, outcome));
            }
        }
    }

    /// <summary>
    /// The records of a ready delivery whose entries still wait for it: an entry paused while it
    /// waited left it (and is back on the timeline, or being rewritten).
    /// </summary>
    private List<EnvelopeRecord> Claim(PendingDelivery delivery)
    {
        var records = new List<EnvelopeRecord>(delivery.Records.Count);
        foreach (var record in delivery.Records)
        {
            if (!_entries.TryGetValue(record.Id, out var entry) || !entry.Waiting)
            {
                continue;
            }

            entry.Waiting = false;
            if (entry.Paused)
            {
                if (!entry.Rewriting)
                {
                    Schedule(entry);
                }

                continue;
            }

            records.Add(entry.Record);
        }

        return records;
    }

    private void ArmTimer(DateTimeOffset now)
    {
        var next = NextDue() ?? DateTimeOffset.MaxValue;
        if (next == _timerDue)
        {
            return;
        }

        _timerDue = next;
        var delay = next == DateTimeOffset.MaxValue ? Timeout.InfiniteTimeSpan : next > now ? next - now : TimeSpan.Zero;
        _timer?.Change(delay, Timeout.InfiniteTimeSpan);
    }

    private void AnswerIdleWaiters()
    {
        // Deliveries held back by a paused side (mda, mta) wait for the operator, not for us:
        // they do not keep the scheduler busy (a stop's last pass would wait for them in vain).
        if (_idleWaiters.Count == 0 || _jobs > 0 || (_ready > 0 && _actions.Values.Any(q => q.Ready.Count > 0 && !IsSidePaused(q))))
        {
            return;
        }

        var next = NextDue();
        foreach (var waiter in _idleWaiters)
        {
            waiter.TrySetResult(next);
        }

        _idleWaiters.Clear();
    }

    /// <summary>The earliest due time of a current item (stale items at the head are dropped).</summary>
    private DateTimeOffset? NextDue()
    {
        while (_timeline.TryPeek(out var item, out var at))
        {
            if (IsCurrent(item))
            {
                return at;
            }

            _timeline.Dequeue();
        }

        return null;
    }

    private bool IsCurrent((Entry Entry, int Generation) item) =>
        !item.Entry.Busy
        && !item.Entry.Paused
        && item.Generation == item.Entry.Generation
        && _entries.TryGetValue(item.Entry.Record.Id, out var current)
        && ReferenceEquals(current, item.Entry);

    private ActionQueue? QueueFor(string action)
    {
        if (_actions.TryGetValue(action, out var queue))
        {
            return queue;
        }

        IDeliveryAgent? agent;
        try
        {
            agent = _agentFactory.Create(action);
        }
#pragma warning disable CA1031 // A broken action's mail stays queued; the others go on.
        catch (Exception e)
#pragma warning restore CA1031
        {
            SchedulerLog.AgentCreateFailed(_logger, action, e);
            return null;
        }

        if (agent is null)
        {
            // Not cached: a configuration reload may add the action.
            return null;
        }

        if (!_slots.TryGetValue(action, out var slots))
        {
            _slots.Add(action, slots = new ActionSlots());
        }

        slots.Limit = LimitOf(action);
        queue = new ActionQueue(agent, slots);
        _actions.Add(action, queue);
        return queue;
    }

    private string DestinationOf(IDeliveryAgent agent, EnvelopeRecord record)
    {
        try
        {
            return agent.DestinationOf(record);
        }
#pragma warning disable CA1031 // An agent bug must not stop the loop; the recipient then goes alone.
        catch (Exception e)
#pragma warning restore CA1031
        {
            SchedulerLog.Error(_logger, $"asking agent {agent.Action} for the destination of {record.Id}", e);
            return "\0" + record.Id;
        }
    }

    private DateTimeOffset ExpiresAt(EnvelopeRecord record) => record.ReceivedAt + _options.Expire;

    /// <summary>
    /// When the envelope next needs the loop: its next attempt (never after its expiry, see
    /// <see cref="RetrySchedule"/>), or earlier for a delay warning. A new envelope is due now.
    /// </summary>
    private DateTimeOffset DueOf(EnvelopeRecord record)
    {
        var due = record.NextAttempt ?? DateTimeOffset.MinValue;
        if (WarningTime(record) is { } warning && warning < due)
        {
            due = warning;
        }

        return due;
    }

    /// <summary>The time of the next delay warning this envelope may get, or null.</summary>
    private DateTimeOffset? WarningTime(EnvelopeRecord record)
    {
        if (record.Attempts == 0 || !DsnPolicy.Wants(record, DsnKind.Delayed))
        {
            return null;
        }

        foreach (var step in _warningSteps)
        {
            if (record.DelayWarned is { } warned && step <= warned)
            {
                continue;
            }

            var at = record.ReceivedAt + step;
            return at < ExpiresAt(record) ? at : null;
        }

        return null;
    }

    /// <summary>The largest warning step passed at <paramref name="now"/> and not warned of yet: one DSN covers it.</summary>
    private TimeSpan? WarningStepAt(EnvelopeRecord record, DateTimeOffset now)
    {
        if (WarningTime(record) is not { } first || first > now)
        {
            return null;
        }

        TimeSpan? step = null;
        foreach (var candidate in _warningSteps)
        {
            if (record.ReceivedAt + candidate <= now && record.ReceivedAt + candidate < ExpiresAt(record))
            {
                step = candidate;
            }
        }

        return step;
    }

    private sealed class Entry(StoredMessage message, EnvelopeRecord record)
    {
        public StoredMessage Message { get; } = message;

        public EnvelopeRecord Record { get; set; } = record;

        /// <summary>In a job (or held for its pass's DSN): not in the timeline.</summary>
        public bool Busy { get; set; }

        /// <summary>Paused by the operator: kept, never started, until resumed.</summary>
        public bool Paused { get; set; }

        /// <summary>Busy only while its record is rewritten (a pause or resume), not in a delivery.</summary>
        public bool Rewriting { get; set; }

        /// <summary>Busy in a ready delivery that has not started (its action or side is at its limit or paused).</summary>
        public bool Waiting { get; set; }

        public int Generation { get; set; }
    }

    /// <summary>One agent of an action and the deliveries waiting for a slot.</summary>
    private sealed class ActionQueue(IDeliveryAgent agent, ActionSlots slots)
    {
        public IDeliveryAgent Agent { get; } = agent;

        public ActionSlots Slots { get; } = slots;

        /// <summary>Calls of this agent in progress (a retired agent is disposed when none are left).</summary>
        public int InFlight { get; set; }

        /// <summary>Replaced by a reload: its agent goes once its calls in progress ended.</summary>
        public bool Retired { get; set; }

        public Queue<PendingDelivery> Ready { get; } = new();
    }

    /// <summary>An action's limit (actions.X.maxDeliveries) and its calls in progress, whichever agent makes them.</summary>
    private sealed class ActionSlots
    {
        public int Limit { get; set; }

        public int InFlight { get; set; }
    }

    private sealed record PendingDelivery(ActionQueue Queue, MessagePass Pass, IReadOnlyList<EnvelopeRecord> Records);
}
