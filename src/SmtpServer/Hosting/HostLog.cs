using Microsoft.Extensions.Logging;

namespace SmtpServer.Hosting;

/// <summary>Process and listener events, ids 1000-1099 (STYLE.md §9.6).</summary>
internal static partial class HostLog
{
    [LoggerMessage(1000, LogLevel.Information, "smtpd listening on {EndPoint} listener={Listener} hostname={Hostname}", EventName = "Listening")]
    public static partial void Listening(ILogger logger, string endPoint, string listener, string hostname);

    [LoggerMessage(1001, LogLevel.Information, "smtpd stopping: new connections refused; sessions in progress, then a last pass over the queue, have {Timeout}", EventName = "Stopping")]
    public static partial void Stopping(ILogger logger, TimeSpan timeout);

    [LoggerMessage(1002, LogLevel.Information, "smtpd stopped", EventName = "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(1003, LogLevel.Information, "smtpd stopping: trying the queue once more ({Envelopes} envelopes due now)", EventName = "LastQueuePass")]
    public static partial void LastQueuePass(ILogger logger, int envelopes);

    [LoggerMessage(1004, LogLevel.Information, "smtpd stopping: the queue was tried once more", EventName = "LastQueuePassDone")]
    public static partial void LastQueuePassDone(ILogger logger);

    [LoggerMessage(1005, LogLevel.Warning, "smtpd stopping: server.shutdownTimeout ran out during the last queue pass; deliveries in progress are cancelled and stay queued", EventName = "LastQueuePassCut")]
    public static partial void LastQueuePassCut(ILogger logger);

    [LoggerMessage(1006, LogLevel.Warning, "smtpd starts with {Side} paused, as the operator left it (smtpctl resume {Side})", EventName = "StartsPaused")]
    public static partial void StartsPaused(ILogger logger, string side);

    [LoggerMessage(1010, LogLevel.Information, "smtpd reloading {Path}", EventName = "Reloading")]
    public static partial void Reloading(ILogger logger, string path);

    [LoggerMessage(1011, LogLevel.Error, "smtpd reload refused, the running configuration stays: {Key}: {Problem}", EventName = "ReloadRefused")]
    public static partial void ReloadRefused(ILogger logger, string key, string problem);

    [LoggerMessage(1012, LogLevel.Information, "smtpd reloaded {Path}: new sessions use it, sessions in progress keep theirs", EventName = "Reloaded")]
    public static partial void Reloaded(ILogger logger, string path);

    [LoggerMessage(1013, LogLevel.Warning, "smtpd reload: listener changes ({Listener}) need a restart; the running listeners stay", EventName = "ReloadListenersChanged")]
    public static partial void ReloadListenersChanged(ILogger logger, string listener);

    [LoggerMessage(1014, LogLevel.Warning, "smtpd configuration warning: {Key}: {Problem}", EventName = "ConfigWarning")]
    public static partial void ConfigWarning(ILogger logger, string key, string problem);

    [LoggerMessage(1015, LogLevel.Warning, "smtpd reload: dns.servers changes need a restart; the running DNS client stays", EventName = "ReloadDnsChanged")]
    public static partial void ReloadDnsChanged(ILogger logger);
}
