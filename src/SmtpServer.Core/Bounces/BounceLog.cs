using Microsoft.Extensions.Logging;
using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Bounces;

/// <summary>Log events of DSN generation (ids 2200–2299; STYLE.md §9 item 6).</summary>
internal static partial class BounceLog
{
    [LoggerMessage(2200, LogLevel.Information, "bounce queued msgid={Bounce} kind={Kind} for={Original} to=<{To}> action={Action} nrcpt={Recipients}", EventName = "BounceQueued")]
    public static partial void Queued(ILogger logger, QueueId bounce, DsnKind kind, QueueId original, string to, string action, int recipients);

    [LoggerMessage(2201, LogLevel.Warning, "bounce dropped kind={Kind} for={Original} to=<{To}>: no rule accepts the sender address", EventName = "BounceDropped")]
    public static partial void Dropped(ILogger logger, DsnKind kind, QueueId original, string to);

    [LoggerMessage(2202, LogLevel.Error, "bounce failed kind={Kind} for={Original} to=<{To}>; the envelopes stay queued", EventName = "BounceFailed")]
    public static partial void Failed(ILogger logger, DsnKind kind, QueueId original, string to, Exception exception);

    [LoggerMessage(2203, LogLevel.Information, "no {Kind} DSN for evpid={EnvelopeId}: {Reason}", EventName = "BounceSuppressed")]
    public static partial void Suppressed(ILogger logger, DsnKind kind, EnvelopeId envelopeId, string reason);

    [LoggerMessage(2204, LogLevel.Warning, "original of {Original} could not be read for its DSN; sent without it", EventName = "OriginalUnreadable")]
    public static partial void OriginalUnreadable(ILogger logger, QueueId original, Exception exception);
}
