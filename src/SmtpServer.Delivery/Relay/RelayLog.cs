using Microsoft.Extensions.Logging;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery.Relay;

/// <summary>Log events of the relay agent (ids 3100–3199; STYLE.md §9 item 6).</summary>
internal static partial class RelayLog
{
    /// <summary>One line per recipient, shaped like OpenSMTPD's <c>mta delivery</c> line.</summary>
    [LoggerMessage(3100, LogLevel.Information, "mta delivery evpid={Envelope} from=<{Sender}> to=<{Recipient}> relay={Relay} delay={Delay} result={Result} stat={Stat}", EventName = "MtaDelivery")]
    public static partial void Delivery(ILogger logger, EnvelopeId envelope, string sender, string recipient, string relay, string delay, string result, string stat);

    [LoggerMessage(3101, LogLevel.Debug, "mta connected to {Relay} for {Destination} (tls {Tls})", EventName = "MtaConnected")]
    public static partial void Connected(ILogger logger, string relay, string destination, string tls);

    [LoggerMessage(3102, LogLevel.Warning, "mta connection to {Relay} failed while {Step}: {Reason}", EventName = "MtaConnectionFailed")]
    public static partial void ConnectionFailed(ILogger logger, string relay, string step, string reason);

    [LoggerMessage(3103, LogLevel.Warning, "mta TLS handshake with {Relay} failed ({Reason}); retrying in plaintext", EventName = "MtaTlsDowngrade")]
    public static partial void TlsDowngrade(ILogger logger, string relay, string reason);

    [LoggerMessage(3104, LogLevel.Warning, "mta route to {Destination} paused for {Pause} after {Failures} failure(s)", EventName = "MtaRoutePaused")]
    public static partial void RoutePaused(ILogger logger, string destination, TimeSpan pause, int failures);

    [LoggerMessage(3105, LogLevel.Debug, "mta session with {Relay} closed ({Reason})", EventName = "MtaSessionClosed")]
    public static partial void SessionClosed(ILogger logger, string relay, string reason);

    [LoggerMessage(3106, LogLevel.Debug, "mta rate limit: message {MessageId} to {Destination} deferred to {Turn}", EventName = "MtaRateLimited")]
    public static partial void RateLimited(ILogger logger, QueueId messageId, string destination, DateTimeOffset turn);
}
