using SmtpServer.Core.Delivery;

namespace SmtpServer.Core.Scheduling;

/// <summary>
/// A configuration reload, delivery side: new agents and new limits, swapped on the loop so no
/// pass sees half of them. An agent the new factory would build the same
/// (<see cref="IDeliveryAgentFactory.CanKeep"/>) stays, with its pooled connections and its
/// waiting deliveries. The other agents in use retire: their calls in progress finish with them,
/// then each is disposed (pooled LMTP and SMTP connections closed). Deliveries that were only
/// waiting for a slot are planned again, so they are grouped and delivered by the new agent.
/// An action the reload removed is "not configured" from then on, so its mail waits (temporary
/// failure) until a later reload brings it back, or it expires.
/// </summary>
internal sealed partial class Scheduler
{
    private readonly List<ActionQueue> _retired = [];
    private readonly List<Task> _disposals = [];

    // Actions that had no agent when asked: on a reload that defines them, their mail goes at once.
    private readonly HashSet<string> _unknownActions = new(StringComparer.OrdinalIgnoreCase);
    private int _maxDeliveries;

    /// <summary>
    /// Makes <paramref name="agents"/> the source of agents and applies the limits (queue.maxDeliveries,
    /// actions.X.maxDeliveries). Completes once the loop has applied it (at once when the scheduler stopped).
    /// </summary>
    public Task ReconfigureAsync(IDeliveryAgentFactory agents, int maxDeliveries, IReadOnlyDictionary<string, int> actionConcurrency)
    {
        ArgumentNullException.ThrowIfNull(agents);
        ArgumentNullException.ThrowIfNull(actionConcurrency);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDeliveries, 1);
        var applied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Posted even before StartAsync: the loop applies events in order once it runs, so a
        // message committed under the new configuration is never scheduled with the old agents.
        if (!_events.Writer.TryWrite(new OnLoop(() =>
            {
                Reconfigure(agents, maxDeliveries, actionConcurrency);
                applied.TrySetResult();
            })))
        {
            applied.TrySetResult();
        }

        return applied.Task;
    }

    private void Reconfigure(IDeliveryAgentFactory agents, int maxDeliveries, IReadOnlyDictionary<string, int> actionConcurrency)
    {
        var previous = _agentFactory;
        _agentFactory = agents;
        _maxDeliveries = maxDeliveries;
        _actionConcurrency = new Dictionary<string, int>(actionConcurrency, StringComparer.OrdinalIgnoreCase);
        foreach (var (action, slots) in _slots)
        {
            // The host names every configured action; a removed one keeps its limit while its
            // old agent finishes.
            if (actionConcurrency.ContainsKey(action))
            {
                slots.Limit = LimitOf(action);
            }
        }

        var retiring = new List<ActionQueue>();
        foreach (var (action, queue) in _actions.ToList())
        {
            if (!Keeps(agents, action, previous))
            {
                _actions.Remove(action);
                retiring.Add(queue);
            }
        }

        foreach (var queue in retiring)
        {
            // Not started yet: back on the schedule, due now (a job outside the limits, so the
            // pass it belongs to still ends and sends its DSNs).
            while (queue.Ready.TryDequeue(out var waiting))
            {
                _ready--;
                StartJob(null, waiting.Pass, waiting.Records, outcome => Replan(waiting.Records, outcome));
            }

            queue.Retired = true;
            _retired.Add(queue);
            RetireIfIdle(queue);
        }

        var returning = 0;
        var back = _unknownActions.Where(a => QueueFor(a) is not null).ToHashSet(StringComparer.OrdinalIgnoreCase);
        _unknownActions.Clear();
        if (back.Count > 0)
        {
            var now = _time.GetUtcNow();
            foreach (var entry in _entries.Values)
            {
                if (!entry.Busy && !entry.Paused && back.Contains(entry.Record.Action))
                {
                    entry.Record = entry.Record with { NextAttempt = now };
                    Schedule(entry);
                    returning++;
                }
            }
        }

        SchedulerLog.Reconfigured(_logger, retiring.Count, _retired.Count, _actions.Count, maxDeliveries, returning);
    }

    /// <summary>For tests: the agent the schedule holds for <paramref name="action"/> now, or null.</summary>
    internal Task<IDeliveryAgent?> AgentOfAsync(string action) =>
        OnLoopAsync(() => _actions.TryGetValue(action, out var queue) ? queue.Agent : null, CancellationToken.None);

    private bool Keeps(IDeliveryAgentFactory agents, string action, IDeliveryAgentFactory previous)
    {
        try
        {
            return agents.CanKeep(action, previous);
        }
#pragma warning disable CA1031 // When in doubt, a new agent: the reload must go through.
        catch (Exception e)
#pragma warning restore CA1031
        {
            SchedulerLog.Error(_logger, $"comparing the agent of action {action}", e);
            return false;
        }
    }

    private int LimitOf(string action) =>
        _actionConcurrency.TryGetValue(action, out var configured) ? configured : _options.MaxConcurrentDeliveriesPerAction;

    private static Task Replan(IReadOnlyList<Queue.EnvelopeRecord> records, JobOutcome outcome)
    {
        foreach (var record in records)
        {
            outcome.Retry(record);
        }

        return Task.CompletedTask;
    }

    /// <summary>A retired queue whose calls all ended goes, and its agent is disposed.</summary>
    private void RetireIfIdle(ActionQueue queue)
    {
        if (queue.InFlight > 0 || !_retired.Remove(queue))
        {
            return;
        }

        _disposals.RemoveAll(t => t.IsCompleted);
        _disposals.Add(DisposeAgentAsync(queue.Agent));
    }

    private async Task DisposeAgentAsync(IDeliveryAgent agent)
    {
        try
        {
            switch (agent)
            {
                case IAsyncDisposable disposable:
                    await disposable.DisposeAsync().ConfigureAwait(false);
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }

            SchedulerLog.AgentDisposed(_logger, agent.Action);
        }
#pragma warning disable CA1031 // Closing an agent's connections must not break the scheduler.
        catch (Exception e)
#pragma warning restore CA1031
        {
            SchedulerLog.Error(_logger, $"closing the agent of action {agent.Action}", e);
        }
    }

    /// <summary>At stop, with no job left: every agent is disposed (bounded by the stop's time).</summary>
    private async Task DisposeAgentsAsync(CancellationToken cancellationToken)
    {
        var disposals = new List<Task>(_disposals);
        disposals.AddRange(_actions.Values.Concat(_retired).Select(q => DisposeAgentAsync(q.Agent)));
        _actions.Clear();
        _retired.Clear();
        try
        {
            await Task.WhenAll(disposals).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Out of time: the process ends and the connections with it.
        }
    }
}
