using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>The admin side (<see cref="ISchedulerControl"/>): every change runs on the loop.</summary>
internal sealed partial class Scheduler : ISchedulerControl
{
    // Messages by id with their count of known envelopes: the oldest is the first key.
    private readonly SortedDictionary<QueueId, int> _messages = [];
    private SchedulerStats _stats = SchedulerStats.Empty;
    private bool _localPaused;
    private bool _relayPaused;
    private int _pausedEntries;

    public SchedulerStats Stats => Volatile.Read(ref _stats);

    public Task<ControlResult> ScheduleNowAsync(QueueSelector selector, CancellationToken cancellationToken) => OnLoopAsync(() =>
    {
        var now = _time.GetUtcNow();
        var matched = 0;
        var skipped = 0;
        foreach (var entry in Select(selector))
        {
            if (entry.Busy || entry.Paused)
            {
                skipped++;
                continue;
            }

            entry.Record = entry.Record with { NextAttempt = now };
            Schedule(entry);
            matched++;
        }

        return new ControlResult(matched, skipped);
    }, cancellationToken);

    public Task<ControlResult> RemoveAsync(QueueSelector selector, CancellationToken cancellationToken) => OnLoopAsync(() =>
    {
        var matched = 0;
        var skipped = 0;
        foreach (var entry in Select(selector))
        {
            if (entry.Busy)
            {
                skipped++;
                continue;
            }

            try
            {
                _store.RemoveEnvelope(entry.Record.Id);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                SchedulerLog.RemoveFailed(_logger, entry.Record.Id, e);
                skipped++;
                continue;
            }

            SchedulerLog.Removed(_logger, entry.Record.Id);
            Forget(entry.Record.Id);
            matched++;
        }

        return new ControlResult(matched, skipped);
    }, cancellationToken);

    /// <summary>
    /// Pauses or resumes, in memory at once and in the spool (the envelope's <c>paused</c> field)
    /// before it returns, so the pause survives a restart. An envelope at rest, or waiting for a
    /// delivery slot, is held while its record is rewritten (a waiting one leaves its delivery);
    /// one in a job, or in a rewrite, gets the new state written when that ends.
    /// </summary>
    public async Task<ControlResult> PauseAsync(QueueSelector selector, bool paused, CancellationToken cancellationToken)
    {
        var (result, written) = await OnLoopAsync(() =>
        {
            var matched = 0;
            var rewrite = new List<Entry>();
            foreach (var entry in Select(selector))
            {
                if (entry.Paused == paused)
                {
                    continue;
                }

                entry.Paused = paused;
                _pausedEntries += paused ? 1 : -1;
                matched++;
                if (!entry.Busy || (entry.Waiting && !entry.Rewriting))
                {
                    entry.Record = entry.Record with { Paused = paused };
                    rewrite.Add(entry);
                }
            }

            return (new ControlResult(matched, 0), rewrite.Count == 0 ? Task.CompletedTask : Rewrite(rewrite));
        }, cancellationToken).ConfigureAwait(false);
        await written.WaitAsync(cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// On the loop: writes the records of <paramref name="entries"/> to the spool off the loop
    /// (same path as after an attempt: temp, fsync, rename), holding them busy meanwhile so no
    /// delivery or removal races the write; then schedules them again (a resumed one goes back
    /// on the timeline), or writes again one whose pause changed meanwhile. Completes once
    /// they are released.
    /// </summary>
    private Task Rewrite(List<Entry> entries)
    {
        _jobs++;
        foreach (var entry in entries)
        {
            entry.Busy = true;
            entry.Rewriting = true;
        }

        var records = entries.Select(e => e.Record).ToList();
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = Task.Run(async () =>
        {
            var vanished = new HashSet<EnvelopeId>();
            foreach (var record in records)
            {
                try
                {
                    if (!await UpdateAsync(record).ConfigureAwait(false))
                    {
                        vanished.Add(record.Id);
                    }
                }
#pragma warning disable CA1031 // A bug here must not hold the entries (and the pause call) forever.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    SchedulerLog.Error(_logger, $"rewriting {record.Id}", e);
                }
            }

            var posted = _events.Writer.TryWrite(new OnLoop(() =>
            {
                _jobs--;
                List<Entry>? again = null;
                for (var i = 0; i < entries.Count; i++)
                {
                    var entry = entries[i];
                    entry.Rewriting = false;
                    entry.Waiting = false;
                    if (vanished.Contains(entry.Record.Id))
                    {
                        Forget(entry.Record.Id);
                    }
                    else if (records[i].Paused != entry.Paused)
                    {
                        entry.Record = entry.Record with { Paused = entry.Paused };
                        (again ??= []).Add(entry);
                    }
                    else
                    {
                        Schedule(entry);
                    }
                }

                if (again is null)
                {
                    released.TrySetResult();
                }
                else
                {
                    Rewrite(again).ContinueWith(_ => released.TrySetResult(), TaskScheduler.Default);
                }
            }));
            if (!posted)
            {
                // Stopped meanwhile: the spool has the state; nothing is scheduled any more.
                released.TrySetResult();
            }
        });
        TrackRunning(task);
        return released.Task;
    }

    public Task PauseSideAsync(bool local, bool paused, CancellationToken cancellationToken) => OnLoopAsync(() =>
    {
        if (local)
        {
            _localPaused = paused;
        }
        else
        {
            _relayPaused = paused;
        }

        return true;
    }, cancellationToken);

    public Task<IReadOnlyDictionary<EnvelopeId, EnvelopeRuntimeState>> InspectAsync(CancellationToken cancellationToken) => OnLoopAsync(() =>
    {
        var states = new Dictionary<EnvelopeId, EnvelopeRuntimeState>(_entries.Count);
        foreach (var (id, entry) in _entries)
        {
            states[id] = entry.Busy && !entry.Rewriting && !entry.Waiting ? EnvelopeRuntimeState.InFlight : entry.Paused ? EnvelopeRuntimeState.Paused : EnvelopeRuntimeState.Pending;
        }

        return (IReadOnlyDictionary<EnvelopeId, EnvelopeRuntimeState>)states;
    }, cancellationToken);

    Task ISchedulerControl.WhenIdleAsync(CancellationToken cancellationToken) => WhenIdleAsync().WaitAsync(cancellationToken);

    private bool IsSidePaused(ActionQueue queue) => queue.Agent.IsLocal ? _localPaused : _relayPaused;

    private IEnumerable<Entry> Select(QueueSelector selector) =>
        selector.Envelope is { } id
            ? _entries.TryGetValue(id, out var one) ? [one] : []
            : _entries.Values.Where(e => selector.Matches(e.Record.Id)).ToList();

    private void Track(QueueId message)
    {
        _messages.TryGetValue(message, out var count);
        _messages[message] = count + 1;
    }

    /// <summary>Drops an envelope from the schedule (it left the spool).</summary>
    private void Forget(EnvelopeId id)
    {
        if (!_entries.Remove(id, out var entry))
        {
            return;
        }

        if (entry.Paused)
        {
            _pausedEntries--;
        }

        if (_messages.TryGetValue(id.Message, out var count))
        {
            if (count <= 1)
            {
                _messages.Remove(id.Message);
            }
            else
            {
                _messages[id.Message] = count - 1;
            }
        }
    }

    private void PublishStats()
    {
        DateTimeOffset? oldest = null;
        foreach (var message in _messages.Keys)
        {
            oldest = message.Timestamp;
            break;
        }

        Volatile.Write(ref _stats, new SchedulerStats(
            _entries.Count, _messages.Count, oldest, _jobs, _pausedEntries, _localPaused, _relayPaused, Volatile.Read(ref _state) == 1));
    }

    private Task<T> OnLoopAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Volatile.Read(ref _state) != 1 || !_events.Writer.TryWrite(new OnLoop(() =>
            {
                try
                {
                    completion.TrySetResult(work());
                }
#pragma warning disable CA1031 // The caller gets the failure; the loop goes on.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    completion.TrySetException(e);
                }
            })))
        {
            completion.TrySetException(new InvalidOperationException("The scheduler is not running."));
        }

        return completion.Task.WaitAsync(cancellationToken);
    }

    private sealed record OnLoop(Action Run) : SchedulerEvent;
}
