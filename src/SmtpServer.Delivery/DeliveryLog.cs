using Microsoft.Extensions.Logging;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>Log events of the local delivery agents (ids 3000–3099; STYLE.md §9 item 6).</summary>
internal static partial class DeliveryLog
{
    [LoggerMessage(3000, LogLevel.Information, "{Agent} delivered {Envelope} to {Destination}", EventName = "Delivered")]
    public static partial void Delivered(ILogger logger, string agent, EnvelopeId envelope, string destination);

    [LoggerMessage(3001, LogLevel.Warning, "{Agent} could not deliver {Envelope}: {Status} {Diagnostic}", EventName = "DeliveryFailed")]
    public static partial void DeliveryFailed(ILogger logger, string agent, EnvelopeId envelope, string status, string diagnostic);

    [LoggerMessage(3002, LogLevel.Warning, "{Agent} refused {Envelope}: unsafe envelope data for path or environment ({Reason})", EventName = "UnsafeEnvelope")]
    public static partial void UnsafeEnvelope(ILogger logger, string agent, EnvelopeId envelope, string reason);

    [LoggerMessage(3003, LogLevel.Warning, "{Agent} refused {Envelope}: mail loop, already delivered to {Recipient}", EventName = "LoopDetected")]
    public static partial void LoopDetected(ILogger logger, string agent, EnvelopeId envelope, string recipient);

    [LoggerMessage(3010, LogLevel.Error, "maildir delivery of {Envelope} to {Path} failed", EventName = "MaildirFailed")]
    public static partial void MaildirFailed(ILogger logger, EnvelopeId envelope, string path, Exception exception);

    [LoggerMessage(3020, LogLevel.Error, "mbox delivery of {Envelope} to {Path} failed", EventName = "MboxFailed")]
    public static partial void MboxFailed(ILogger logger, EnvelopeId envelope, string path, Exception exception);

    [LoggerMessage(3021, LogLevel.Warning, "Removed stale mbox lock {LockPath} (older than {Age})", EventName = "StaleLockRemoved")]
    public static partial void StaleLockRemoved(ILogger logger, string lockPath, TimeSpan age);

    [LoggerMessage(3022, LogLevel.Critical, "Could not truncate {Path} back to {Length} bytes after a failed append; the mbox may hold a partial message", EventName = "MboxTruncateFailed")]
    public static partial void MboxTruncateFailed(ILogger logger, string path, long length, Exception exception);

    [LoggerMessage(3030, LogLevel.Debug, "lmtp connected to {Address}", EventName = "LmtpConnected")]
    public static partial void LmtpConnected(ILogger logger, string address);

    [LoggerMessage(3031, LogLevel.Warning, "lmtp session with {Address} failed while {Step}: {Reason}", EventName = "LmtpSessionFailed")]
    public static partial void LmtpSessionFailed(ILogger logger, string address, string step, string reason);

    [LoggerMessage(3032, LogLevel.Debug, "lmtp connection to {Address} closed ({Reason})", EventName = "SmtpClientConnectionClosed")]
    public static partial void SmtpClientConnectionClosed(ILogger logger, string address, string reason);

    [LoggerMessage(3040, LogLevel.Debug, "command {Program} for {Envelope} started as pid {Pid}", EventName = "CommandStarted")]
    public static partial void CommandStarted(ILogger logger, string program, EnvelopeId envelope, int pid);

    [LoggerMessage(3041, LogLevel.Warning, "command {Program} for {Envelope} timed out after {Timeout}; killed pid {Pid} and its children", EventName = "CommandTimedOut")]
    public static partial void CommandTimedOut(ILogger logger, string program, EnvelopeId envelope, TimeSpan timeout, int pid);

    [LoggerMessage(3042, LogLevel.Error, "command {Program} for {Envelope} could not be started", EventName = "CommandStartFailed")]
    public static partial void CommandStartFailed(ILogger logger, string program, EnvelopeId envelope, Exception exception);
}
