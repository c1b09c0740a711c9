using System.Globalization;
using System.Text;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>
/// Jobs: agent calls, expiries, delay warnings. They run off the loop, touch only the spool and
/// their own <see cref="JobOutcome"/>, and report it to the loop when done.
/// </summary>
internal sealed partial class Scheduler
{
    private static readonly DsnKind[] DsnKinds = [DsnKind.Failed, DsnKind.Delayed, DsnKind.Delivered];

    private void StartJob(ActionQueue? queue, MessagePass pass, IReadOnlyList<EnvelopeRecord> records, Func<JobOutcome, Task> work)
    {
        _jobs++;
        var outcome = new JobOutcome(queue);
        var task = Task.Run(async () =>
        {
            try
            {
                await work(outcome).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_abort.IsCancellationRequested)
            {
                // Stopping: what was not recorded stays as the spool has it.
            }
#pragma warning disable CA1031 // A job's bug must not lose its envelopes from the schedule.
            catch (Exception e)
            {
                SchedulerLog.Error(_logger, $"running a job for message {pass.Message.Id}", e);
            }

            // Whatever the job did not settle is tried again later (in memory only).
            var later = _time.GetUtcNow() + _options.RelayRetryBase;
            foreach (var record in records)
            {
                if (!outcome.Settled.Contains(record.Id))
                {
                    outcome.Reschedule.Add(record with { NextAttempt = later });
                }
            }

            if (pass.JobDone())
            {
                try
                {
                    await FinishPassAsync(pass, outcome).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    SchedulerLog.Error(_logger, $"sending the DSNs of message {pass.Message.Id}", e);
                }
            }
#pragma warning restore CA1031

            _events.Writer.TryWrite(new JobFinished(outcome));
        });
        TrackRunning(task);
    }

    /// <summary>Work off the loop that a stop waits for (up to its timeout).</summary>
    private void TrackRunning(Task task)
    {
        _running.TryAdd(task, 0);
        task.ContinueWith(
            static (t, state) => ((System.Collections.Concurrent.ConcurrentDictionary<Task, byte>)state!).TryRemove(t, out _),
            _running,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private async Task DeliverAsync(PendingDelivery delivery, JobOutcome outcome)
    {
        var agent = delivery.Queue.Agent;
        var message = delivery.Pass.Message;
        var started = _time.GetUtcNow();
        Dictionary<EnvelopeId, DeliveryResult>? results = null;
        string? failure = null;
        try
        {
            var answer = await agent.DeliverAsync(new DeliveryRequest(message.Id, message.MessagePath, delivery.Records), _abort.Token).ConfigureAwait(false);
            results = [];
            foreach (var result in answer ?? [])
            {
                if (result is not null)
                {
                    results.TryAdd(result.Envelope, result);
                }
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // The agent contract: an exception is a temporary failure of every recipient.
        catch (Exception e)
#pragma warning restore CA1031
        {
            SchedulerLog.AgentThrew(_logger, agent.Action, message.Id, delivery.Records.Count, e);
            failure = $"{agent.Action}: {e.Message}";
        }

        var retryBase = agent.IsLocal ? _options.LocalRetryBase : _options.RelayRetryBase;
        foreach (var record in delivery.Records)
        {
            DeliveryResult? result;
            if (failure is not null)
            {
                result = DeliveryResult.Temporary(record.Id, "4.3.0", failure);
            }
            else if (!results!.TryGetValue(record.Id, out result))
            {
                SchedulerLog.MissingResult(_logger, agent.Action, record.Id);
                result = DeliveryResult.Temporary(record.Id, "4.3.0", $"{agent.Action}: no result for this recipient");
            }

            await SettleAsync(record, result, agent.Action, retryBase, started, delivery.Pass, outcome).ConfigureAwait(false);
        }
    }

    /// <summary>Records one recipient's result: retry later, bounce, or done.</summary>
    private async Task SettleAsync(EnvelopeRecord record, DeliveryResult result, string action, TimeSpan retryBase, DateTimeOffset started, MessagePass pass, JobOutcome outcome)
    {
        var now = _time.GetUtcNow();
        if (result.Status == DeliveryStatus.Deferred)
        {
            Defer(record, result, action, now, outcome);
            return;
        }

        var stat = result.Diagnostic ?? (result.Status == DeliveryStatus.Delivered ? "Delivered" : "Unknown error");
        SchedulerLog.Delivery(_logger, record.Id, record.SenderMailbox?.Address ?? string.Empty, record.RecipientMailbox.Address, action,
            result.Status switch
            {
                DeliveryStatus.Delivered => "Ok",
                DeliveryStatus.PermanentFailure => "PermFail",
                _ => "TempFail",
            },
            FormatDelay(now - record.ReceivedAt), OneLine(stat));

        _metrics?.Delivered(action, result.Status, now - started);
        var attempted = record with
        {
            Attempts = record.Attempts + 1,
            LastAttempt = started,
            LastError = result.Status == DeliveryStatus.Delivered ? record.LastError : stat,
            History = AttemptHistory.Append(record.History, Attempt(record.Attempts + 1, started, action, result, stat)),
        };
        switch (result.Status)
        {
            case DeliveryStatus.Delivered:
                if (DsnPolicy.Wants(record, DsnKind.Delivered))
                {
                    pass.Hold(new HeldEnvelope(DsnKind.Delivered, new DsnRecipient(attempted, result.EnhancedStatus ?? "2.0.0", result.Diagnostic, result.RemoteMta, started), retryBase));
                    outcome.Settled.Add(record.Id);
                }
                else
                {
                    Remove(record.Id, outcome);
                }

                break;

            case DeliveryStatus.PermanentFailure:
                var failed = attempted with { NextAttempt = null };
                if (DsnPolicy.WhyNot(failed, DsnKind.Failed) is { } reason)
                {
                    BounceLog.Suppressed(_logger, DsnKind.Failed, record.Id, reason);
                    Remove(record.Id, outcome);
                }
                else if (await UpdateAsync(failed).ConfigureAwait(false))
                {
                    // Removed once its bounce is committed (FinishPassAsync).
                    pass.Hold(new HeldEnvelope(DsnKind.Failed, new DsnRecipient(failed, result.EnhancedStatus ?? "5.0.0", stat, result.RemoteMta, started), retryBase));
                    outcome.Settled.Add(record.Id);
                }
                else
                {
                    outcome.Finish(record.Id);
                }

                break;

            default:
                var next = RetrySchedule.Next(record.ReceivedAt, attempted.Attempts, retryBase, now, ExpiresAt(record));
                var deferred = attempted with { NextAttempt = next };
                if (await UpdateAsync(deferred).ConfigureAwait(false))
                {
                    outcome.Retry(deferred);
                }
                else
                {
                    outcome.Finish(record.Id);
                }

                break;
        }
    }

    /// <summary>
    /// The agent held the recipient back (a rate limit): not an attempt, so no count, no error
    /// and no backoff; the envelope comes back when the agent said. Memory only: the spool's
    /// state is still true, and after a restart the recipient is simply offered again.
    /// </summary>
    private void Defer(EnvelopeRecord record, DeliveryResult result, string action, DateTimeOffset now, JobOutcome outcome)
    {
        // Never a busy loop on an agent that answers "later" with no time or a past one.
        var at = result.RetryAt is { } retryAt && retryAt > now ? retryAt : now + TimeSpan.FromSeconds(1);
        if (at > ExpiresAt(record))
        {
            at = ExpiresAt(record);
        }

        SchedulerLog.Deferred(_logger, record.Id, action, at, OneLine(result.Diagnostic ?? "deferred by the agent"));
        outcome.Retry(record with { NextAttempt = at });
    }

    /// <summary>The history entry of one attempt: what the agent reported about where it went.</summary>
    private static AttemptRecord Attempt(int number, DateTimeOffset started, string action, DeliveryResult result, string text) => new()
    {
        Number = number,
        At = started,
        Action = action,
        Result = result.Status switch
        {
            DeliveryStatus.Delivered => AttemptResult.Ok,
            DeliveryStatus.PermanentFailure => AttemptResult.Permanent,
            _ => AttemptResult.Temporary,
        },
        Host = result.RemoteHost,
        Address = result.RemoteAddress,
        Tls = result.TlsProtocol,
        Destination = result.Destination,
        Reply = text,
    };

    private Task ExpireAsync(MessagePass pass, List<EnvelopeRecord> records, JobOutcome outcome)
    {
        var now = _time.GetUtcNow();
        foreach (var record in records)
        {
            SchedulerLog.Expired(_logger, record.Id, record.SenderMailbox?.Address ?? string.Empty, record.RecipientMailbox.Address, FormatDelay(now - record.ReceivedAt));
            if (DsnPolicy.WhyNot(record, DsnKind.Failed) is { } reason)
            {
                BounceLog.Suppressed(_logger, DsnKind.Failed, record.Id, reason);
                Remove(record.Id, outcome);
                continue;
            }

            // RFC 3463 5.4.7: delivery time expired. The last error (the remote's reply) stays
            // the Diagnostic-Code.
            var reason2 = "Envelope expired: not delivered within " + FormatDelay(_options.Expire);
            pass.Hold(new HeldEnvelope(DsnKind.Failed, new DsnRecipient(record, "5.4.7", record.LastError, null, record.LastAttempt, reason2), _options.RelayRetryBase));
            outcome.Settled.Add(record.Id);
        }

        return Task.CompletedTask;
    }

    private Task WarnAsync(MessagePass pass, List<(EnvelopeRecord Record, TimeSpan Step)> warnings, JobOutcome outcome)
    {
        foreach (var (record, step) in warnings)
        {
            SchedulerLog.DelayWarning(_logger, record.Id, record.RecipientMailbox.Address, step);
            var status = DsnBuilder.StatusInReply(record.LastError) ?? "4.0.0";
            pass.Hold(new HeldEnvelope(DsnKind.Delayed, new DsnRecipient(record, status, record.LastError, null, record.LastAttempt), _options.RelayRetryBase, step));
            outcome.Settled.Add(record.Id);
        }

        return Task.CompletedTask;
    }

    private async Task UnknownActionAsync(MessagePass pass, List<EnvelopeRecord> records, JobOutcome outcome)
    {
        var now = _time.GetUtcNow();
        foreach (var record in records)
        {
            // The configuration changed under the queue: keep the mail (RFC 3463 4.3.5, system
            // incorrectly configured) until the action is back or the envelope expires.
            SchedulerLog.UnknownAction(_logger, record.Id, record.Action);
            var result = DeliveryResult.Temporary(record.Id, "4.3.5", $"action \"{record.Action}\" is not configured");
            await SettleAsync(record, result, record.Action, _options.RelayRetryBase, now, pass, outcome).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The pass's last job: one DSN per kind for the whole pass, then the envelopes it covered
    /// are removed (failed, delivered) or updated (delayed). A failure DSN that cannot be
    /// committed leaves its envelopes queued, to be tried again.
    /// </summary>
    private async Task FinishPassAsync(MessagePass pass, JobOutcome outcome)
    {
        var held = pass.Held;
        foreach (var kind in DsnKinds)
        {
            var group = held.Where(h => h.Kind == kind).ToList();
            if (group.Count == 0)
            {
                continue;
            }

            var sent = await SendDsnAsync(kind, pass.Message, group).ConfigureAwait(false);
            foreach (var envelope in group)
            {
                var record = envelope.Record;
                switch (kind)
                {
                    case DsnKind.Failed when !sent:
                        outcome.Retry(record with { NextAttempt = _time.GetUtcNow() + envelope.RetryBase });
                        break;
                    case DsnKind.Delayed:
                        // Warnings are best effort: a failed one is not repeated.
                        var warned = record with { DelayWarned = envelope.WarnedStep };
                        if (await UpdateAsync(warned).ConfigureAwait(false))
                        {
                            outcome.Retry(warned);
                        }
                        else
                        {
                            outcome.Finish(record.Id);
                        }

                        break;
                    default:
                        // Bounced, or delivered (a lost success DSN beats a second delivery).
                        Remove(record.Id, outcome);
                        break;
                }
            }
        }
    }

    private async Task<bool> SendDsnAsync(DsnKind kind, StoredMessage message, List<HeldEnvelope> group)
    {
        var first = group[0].Record;
        var report = new DsnReport(kind, message.MessagePath, [.. group.Select(h => h.Dsn)], kind == DsnKind.Delayed ? ExpiresAt(first) : null);
        try
        {
            if (await _bounces.SendAsync(report, CancellationToken.None).ConfigureAwait(false) is { } dsn)
            {
                Enqueue(dsn);
            }

            return true;
        }
#pragma warning disable CA1031 // Any failure to commit the DSN keeps the envelopes; it is logged with its cause.
        catch (Exception e)
#pragma warning restore CA1031
        {
            BounceLog.Failed(_logger, kind, first.MessageId, first.SenderMailbox?.Address ?? string.Empty, e);
            return false;
        }
    }

    /// <summary>Persists an envelope's new state; false when it is no longer in the spool.</summary>
    private async Task<bool> UpdateAsync(EnvelopeRecord record)
    {
        try
        {
            await _store.UpdateEnvelopeAsync(record, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (InvalidOperationException)
        {
            SchedulerLog.EnvelopeVanished(_logger, record.Id);
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The spool keeps the previous state: at worst an attempt is repeated after a restart.
            SchedulerLog.UpdateFailed(_logger, record.Id, e);
            return true;
        }
    }

    private void Remove(EnvelopeId id, JobOutcome outcome)
    {
        try
        {
            _store.RemoveEnvelope(id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            SchedulerLog.RemoveFailed(_logger, id, e);
        }

        outcome.Finish(id);
    }

    /// <summary>OpenSMTPD's delay format: 4d, 1h2m3s, 0s.</summary>
    internal static string FormatDelay(TimeSpan delay)
    {
        if (delay < TimeSpan.Zero)
        {
            delay = TimeSpan.Zero;
        }

        var text = new StringBuilder();
        if (delay.Days > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"{delay.Days}d");
        }

        if (delay.Hours > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"{delay.Hours}h");
        }

        if (delay.Minutes > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"{delay.Minutes}m");
        }

        if (delay.Seconds > 0 || text.Length == 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"{delay.Seconds}s");
        }

        return text.ToString();
    }

    /// <summary>A remote's reply in one log line: control characters become spaces.</summary>
    private static string OneLine(string text)
    {
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i]))
            {
                chars[i] = ' ';
            }
        }

        return new string(chars);
    }

    /// <summary>What a job did with its envelopes, applied to the schedule by the loop.</summary>
    private sealed class JobOutcome(ActionQueue? queue)
    {
        /// <summary>The action whose slot the job used, or null for a job outside the limits.</summary>
        public ActionQueue? Queue { get; } = queue;

        /// <summary>No longer in the spool: forget them.</summary>
        public List<EnvelopeId> Done { get; } = [];

        /// <summary>Schedule again with this state.</summary>
        public List<EnvelopeRecord> Reschedule { get; } = [];

        /// <summary>Envelopes of this job that have their outcome (done, rescheduled or held for a DSN).</summary>
        public HashSet<EnvelopeId> Settled { get; } = [];

        public void Finish(EnvelopeId id)
        {
            Done.Add(id);
            Settled.Add(id);
        }

        public void Retry(EnvelopeRecord record)
        {
            Reschedule.Add(record);
            Settled.Add(record.Id);
        }
    }
}
