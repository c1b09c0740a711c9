using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>
/// The queue's scheduler, after OpenSMTPD's scheduler_ramqueue: an in-memory schedule of every
/// queued envelope, rebuilt from the spool at start, fed by a <see cref="Channel{T}"/> of
/// committed messages. One loop owns the schedule (no locks): it takes envelopes that fall due
/// (by the injected <see cref="TimeProvider"/> only, DESIGN.md decision 10), groups the
/// recipients of a message by action and <see cref="IDeliveryAgent.DestinationOf"/>, and starts
/// agent calls within a total and a per-action limit. Each call runs as a job off the loop; the
/// job records the outcome in the spool (<see cref="IEnvelopeStore.UpdateEnvelopeAsync"/>, or
/// removal once delivered or bounced: at-least-once, decision 2) and reports back to the loop.
/// </summary>
internal sealed partial class Scheduler : IScheduler, IAsyncDisposable
{
    private readonly SchedulerOptions _options;
    private readonly IEnvelopeStore _store;
    private IDeliveryAgentFactory _agentFactory; // swapped by a reload, on the loop
    private readonly IBounceSender _bounces;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SchedulerMetrics? _metrics;
    private readonly Channel<SchedulerEvent> _events =
        Channel.CreateUnbounded<SchedulerEvent>(new UnboundedChannelOptions { SingleReader = true });

    private static readonly TimeSpan AbortUnwindTime = TimeSpan.FromSeconds(1);

    // Cancels agent calls when a stop runs out of time.
    private readonly CancellationTokenSource _abort = new();
    private readonly ConcurrentDictionary<Task, byte> _running = new();
    private ITimer? _timer;
    private Task? _loop;
    private int _state; // 0 created, 1 running, 2 stopped

    public Scheduler(SchedulerOptions options, IEnvelopeStore store, IDeliveryAgentFactory agentFactory, IBounceSender bounces, TimeProvider time, ILogger<Scheduler> logger, SchedulerMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(agentFactory);
        ArgumentNullException.ThrowIfNull(bounces);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        options.Validate();
        _options = options;
        _store = store;
        _agentFactory = agentFactory;
        _bounces = bounces;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _warningSteps = [.. options.DelayWarnings.Distinct().Order()];
        _actionConcurrency = new Dictionary<string, int>(options.ActionConcurrency, StringComparer.OrdinalIgnoreCase);
        _localPaused = options.LocalPaused;
        _relayPaused = options.RelayPaused;
        _maxDeliveries = options.MaxConcurrentDeliveries;
    }

    public void Enqueue(StoredMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        _events.Writer.TryWrite(new MessageArrived(message));
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The scheduler was started already.");
        }

        // Everything in the spool, including envelopes that were in flight when the process
        // died: they are delivered again (at-least-once). Nothing is dispatched before this.
        var messages = _store.Load(cancellationToken);
        var envelopes = 0;
        foreach (var message in messages)
        {
            envelopes += Add(message);
            _loadedAtStart.Add(message.Id);
        }

        SchedulerLog.Started(_logger, messages.Count, envelopes);
        PublishStats();
        _timer = _time.CreateTimer(static state => ((Scheduler)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _events.Writer.TryWrite(Tick.Instance);
        _loop = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
        {
            Volatile.Write(ref _state, 2);
            return;
        }

        // No new work: the loop drains its events and ends; jobs in flight go on.
        _events.Writer.TryComplete();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        var running = _running.Keys.ToArray();
        var finished = true;
        if (running.Length > 0)
        {
            SchedulerLog.Stopping(_logger, running.Length);
            try
            {
                await Task.WhenAll(running).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The envelopes of what is cut short keep their last recorded state and are
                // delivered again after the restart.
                SchedulerLog.StopTimedOut(_logger, _running.Count);
                await _abort.CancelAsync().ConfigureAwait(false);

                // A moment (real time, whatever the clock) for the cancelled calls to close
                // their connections and files before the agents are disposed.
                try
                {
                    await Task.WhenAll(running).WaitAsync(AbortUnwindTime, CancellationToken.None).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                }

                finished = false;
            }
        }

        if (finished)
        {
            // No agent is in use any more: close their pooled connections (an agent cut short
            // may still be, and the process is going down anyway).
            await DisposeAgentsAsync(cancellationToken).ConfigureAwait(false);
        }

        Volatile.Write(ref _stats, Stats with { Running = false, InFlight = 0 });
        SchedulerLog.Stopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        _abort.Dispose();
    }

    /// <summary>
    /// For tests: completes when nothing is running or ready, with the time the next envelope
    /// falls due (null when none is scheduled, or the scheduler stopped).
    /// </summary>
    internal Task<DateTimeOffset?> WhenIdleAsync()
    {
        var completion = new TaskCompletionSource<DateTimeOffset?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_events.Writer.TryWrite(new IdleProbe(completion)))
        {
            completion.TrySetResult(null);
        }

        return completion.Task;
    }

    private void OnTimer() => _events.Writer.TryWrite(Tick.Instance);

    private async Task RunAsync()
    {
        var reader = _events.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var e))
            {
                try
                {
                    Handle(e);
                }
#pragma warning disable CA1031 // The loop is the scheduler: one bad event must not stop all delivery.
                catch (Exception ex)
                {
                    SchedulerLog.Error(_logger, "handling " + e.GetType().Name, ex);
                }
            }

            if (Volatile.Read(ref _state) != 1)
            {
                continue;
            }

            try
            {
                Pump();
            }
            catch (Exception ex)
            {
                SchedulerLog.Error(_logger, "scheduling", ex);
            }
#pragma warning restore CA1031
        }

        foreach (var waiter in _idleWaiters)
        {
            waiter.TrySetResult(null);
        }

        _idleWaiters.Clear();
    }

    private void Handle(SchedulerEvent e)
    {
        switch (e)
        {
            case MessageArrived arrived:
                // A message committed while Load ran is announced too; Load already has all
                // of it, and some of its envelopes may be delivered and gone by now.
                if (!_loadedAtStart.Remove(arrived.Message.Id))
                {
                    Add(arrived.Message);
                }

                break;
            case Tick:
                _timerDue = DateTimeOffset.MaxValue;
                break;
            case JobFinished finished:
                Finished(finished.Outcome);
                break;
            case IdleProbe probe:
                _idleWaiters.Add(probe.Completion);
                break;
            case OnLoop request:
                request.Run();
                break;
        }
    }

    private abstract record SchedulerEvent;

    private sealed record MessageArrived(StoredMessage Message) : SchedulerEvent;

    private sealed record Tick : SchedulerEvent
    {
        public static readonly Tick Instance = new();
    }

    private sealed record JobFinished(JobOutcome Outcome) : SchedulerEvent;

    private sealed record IdleProbe(TaskCompletionSource<DateTimeOffset?> Completion) : SchedulerEvent;
}
