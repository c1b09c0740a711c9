using System.Net;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Dns;

namespace SmtpServer.Smtp;

/// <summary>
/// Session events, OpenSMTPD-style names ("smtp connected", "smtp message", "smtp disconnected")
/// so operators who grep OpenSMTPD logs find their way. Event ids 1100-1199 (STYLE.md §9.6).
/// </summary>
internal static partial class SessionLog
{
    [LoggerMessage(1100, LogLevel.Information, "{SessionId} smtp connected address={Address} listener={Listener}", EventName = "SmtpConnected")]
    public static partial void Connected(ILogger logger, string sessionId, string address, string listener);

    [LoggerMessage(1101, LogLevel.Information, "{SessionId} smtp disconnected reason={Reason} state={State}", EventName = "SmtpDisconnected")]
    public static partial void Disconnected(ILogger logger, string sessionId, string reason, SessionState state);

    [LoggerMessage(1102, LogLevel.Information,
        "{SessionId} smtp message msgid={QueueId} size={Size} nrcpt={RecipientCount} from=<{Sender}> proto={Protocol} helo={Helo}",
        EventName = "SmtpMessage")]
    public static partial void MessageAccepted(ILogger logger, string sessionId, string queueId, long size, int recipientCount, string sender, string protocol, string helo);

    [LoggerMessage(1103, LogLevel.Information, "{SessionId} smtp failed-command command=\"{Command}\" result=\"{Reply}\"", EventName = "SmtpFailedCommand")]
    public static partial void FailedCommand(ILogger logger, string sessionId, string command, string reply);

    [LoggerMessage(1104, LogLevel.Debug, "{SessionId} smtp <<< {Command}", EventName = "SmtpCommand")]
    public static partial void Command(ILogger logger, string sessionId, string command);

    [LoggerMessage(1105, LogLevel.Warning, "{SessionId} smtp message rejected msgid={QueueId} reason={Reason}", EventName = "SmtpMessageRejected")]
    public static partial void MessageRejected(ILogger logger, string sessionId, string queueId, string reason);

    [LoggerMessage(1106, LogLevel.Error, "{SessionId} smtp queue failure msgid={QueueId}", EventName = "SmtpQueueFailure")]
    public static partial void QueueFailure(ILogger logger, string sessionId, string queueId, Exception exception);

    [LoggerMessage(1107, LogLevel.Warning, "{SessionId} smtp session error in state {State}", EventName = "SmtpSessionError")]
    public static partial void SessionError(ILogger logger, string sessionId, SessionState state, Exception exception);

    [LoggerMessage(1108, LogLevel.Information, "smtp refused address={Address} reason={Reason}", EventName = "SmtpRefused")]
    public static partial void Refused(ILogger logger, IPAddress? address, string reason);

    [LoggerMessage(1109, LogLevel.Warning, "{SessionId} smtp routing failure recipient=<{Recipient}>", EventName = "SmtpRoutingFailure")]
    public static partial void RoutingFailure(ILogger logger, string sessionId, string recipient, Exception exception);

    [LoggerMessage(1110, LogLevel.Warning, "{SessionId} smtp starttls discarded {Bytes} bytes sent after STARTTLS in plain text", EventName = "SmtpStartTlsDiscarded")]
    public static partial void DiscardedAfterStartTls(ILogger logger, string sessionId, long bytes);

    [LoggerMessage(1111, LogLevel.Warning, "{SessionId} smtp recipient <{Recipient}> refused with {Reply}: {Problem}", EventName = "SmtpAliasRefused")]
    public static partial void AliasRefused(ILogger logger, string sessionId, string recipient, string reply, string problem);

    /// <summary>OpenSMTPD logs host=&lt;rdns&gt; on its connected line; ours is looked up after the banner, so it has its own line.</summary>
    [LoggerMessage(1113, LogLevel.Information, "{SessionId} smtp rdns address={Address} host={Host} result={Result} detail={Detail}", EventName = "SmtpReverseDns")]
    public static partial void ReverseDns(ILogger logger, string sessionId, IPAddress address, string host, ReverseDnsStatus result, string detail);

    [LoggerMessage(1114, LogLevel.Warning, "{SessionId} smtp rdns address={Address} lookup failed", EventName = "SmtpReverseDnsFailed")]
    public static partial void ReverseDnsFailed(ILogger logger, string sessionId, IPAddress address, Exception exception);
}
