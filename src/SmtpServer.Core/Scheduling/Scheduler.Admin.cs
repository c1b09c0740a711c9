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

    public Task<ControlResult> PauseAsync(QueueSelector selector, bool paused, CancellationToken cancellationToken) => OnLoopAsync(() =>
    {
        var matched = 0;
        foreach (var entry in Select(selector))
        {
            if (entry.Paused == paused)
            {
                continue;
            }

            entry.Paused = paused;
            _pausedEntries += paused ? 1 : -1;
            matched++;

            // A resumed envelope goes back on the timeline (one in flight goes back when its job ends).
            if (!paused && !entry.Busy)
            {
                Schedule(entry);
            }
        }

        return new ControlResult(matched, 0);
    }, cancellationToken);

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
            states[id] = entry.Busy ? EnvelopeRuntimeState.InFlight : entry.Paused ? EnvelopeRuntimeState.Paused : EnvelopeRuntimeState.Pending;
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
