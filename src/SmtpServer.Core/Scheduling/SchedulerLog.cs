using Microsoft.Extensions.Logging;
using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>Log events of the scheduler (ids 2100–2199; STYLE.md §9 item 6), OpenSMTPD's wording where it has one.</summary>
internal static partial class SchedulerLog
{
    [LoggerMessage(2100, LogLevel.Information, "scheduler started: {Messages} messages, {Envelopes} envelopes queued", EventName = "SchedulerStarted")]
    public static partial void Started(ILogger logger, int messages, int envelopes);

    [LoggerMessage(2101, LogLevel.Information, "delivery evpid={EnvelopeId} from=<{From}> rcpt=<{Recipient}> action={Action} result={Result} delay={Delay} stat={Status}", EventName = "Delivery")]
    public static partial void Delivery(ILogger logger, EnvelopeId envelopeId, string from, string recipient, string action, string result, string delay, string status);

    [LoggerMessage(2102, LogLevel.Warning, "evpid={EnvelopeId} names action \"{Action}\", which is not configured; kept queued", EventName = "UnknownAction")]
    public static partial void UnknownAction(ILogger logger, EnvelopeId envelopeId, string action);

    [LoggerMessage(2103, LogLevel.Warning, "agent {Action} threw for message {MessageId}; its {Recipients} recipients fail temporarily", EventName = "AgentThrew")]
    public static partial void AgentThrew(ILogger logger, string action, QueueId messageId, int recipients, Exception exception);

    [LoggerMessage(2104, LogLevel.Information, "delivery: Expire for evpid={EnvelopeId}: from=<{From}>, rcpt=<{Recipient}>, delay={Delay}, stat=Envelope expired", EventName = "Expired")]
    public static partial void Expired(ILogger logger, EnvelopeId envelopeId, string from, string recipient, string delay);

    [LoggerMessage(2105, LogLevel.Error, "could not update evpid={EnvelopeId} in the spool; its state is kept in memory", EventName = "UpdateFailed")]
    public static partial void UpdateFailed(ILogger logger, EnvelopeId envelopeId, Exception exception);

    [LoggerMessage(2106, LogLevel.Error, "could not remove evpid={EnvelopeId} from the spool; it may be delivered again after a restart", EventName = "RemoveFailed")]
    public static partial void RemoveFailed(ILogger logger, EnvelopeId envelopeId, Exception exception);

    [LoggerMessage(2107, LogLevel.Information, "scheduler stopping: waiting for {Jobs} deliveries in progress", EventName = "Stopping")]
    public static partial void Stopping(ILogger logger, int jobs);

    [LoggerMessage(2108, LogLevel.Warning, "scheduler stop timed out: {Jobs} deliveries cancelled; their envelopes stay queued", EventName = "StopTimedOut")]
    public static partial void StopTimedOut(ILogger logger, int jobs);

    [LoggerMessage(2109, LogLevel.Critical, "scheduler error while {Doing}; carrying on", EventName = "SchedulerError")]
    public static partial void Error(ILogger logger, string doing, Exception exception);

    [LoggerMessage(2110, LogLevel.Error, "could not create the agent of action {Action}", EventName = "AgentCreateFailed")]
    public static partial void AgentCreateFailed(ILogger logger, string action, Exception exception);

    [LoggerMessage(2111, LogLevel.Warning, "agent {Action} returned no result for evpid={EnvelopeId}; counted as a temporary failure", EventName = "MissingResult")]
    public static partial void MissingResult(ILogger logger, string action, EnvelopeId envelopeId);

    [LoggerMessage(2112, LogLevel.Warning, "evpid={EnvelopeId} is no longer in the spool; dropped from the schedule", EventName = "EnvelopeVanished")]
    public static partial void EnvelopeVanished(ILogger logger, EnvelopeId envelopeId);

    [LoggerMessage(2113, LogLevel.Information, "scheduler stopped", EventName = "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(2114, LogLevel.Debug, "message {MessageId} enqueued after it left the spool; ignored", EventName = "StaleMessage")]
    public static partial void StaleMessage(ILogger logger, QueueId messageId);

    [LoggerMessage(2115, LogLevel.Information, "delay warning evpid={EnvelopeId} rcpt=<{Recipient}> step={Step}", EventName = "DelayWarning")]
    public static partial void DelayWarning(ILogger logger, EnvelopeId envelopeId, string recipient, TimeSpan step);

    [LoggerMessage(2116, LogLevel.Information, "evpid={EnvelopeId} removed by the operator (no bounce)", EventName = "EnvelopeRemoved")]
    public static partial void Removed(ILogger logger, EnvelopeId envelopeId);

    [LoggerMessage(2117, LogLevel.Debug, "evpid={EnvelopeId} deferred by action {Action} until {RetryAt} (not an attempt): {Reason}", EventName = "Deferred")]
    public static partial void Deferred(ILogger logger, EnvelopeId envelopeId, string action, DateTimeOffset retryAt, string reason);

    [LoggerMessage(2119, LogLevel.Information, "scheduler reconfigured: {Retired} agents replaced ({Retiring} finishing their deliveries), {Kept} unchanged kept, maxDeliveries={MaxDeliveries}, {Returning} envelopes of returning actions rescheduled", EventName = "Reconfigured")]
    public static partial void Reconfigured(ILogger logger, int retired, int retiring, int kept, int maxDeliveries, int returning);

    [LoggerMessage(2120, LogLevel.Debug, "agent of action {Action} closed", EventName = "AgentClosed")]
    public static partial void AgentDisposed(ILogger logger, string action);
}
