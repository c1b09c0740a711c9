using Microsoft.Extensions.Logging;

namespace SmtpServer.Admin;

/// <summary>Admin API events, ids 4000-4099 (STYLE.md §9.6).</summary>
internal static partial class AdminLog
{
    [LoggerMessage(4000, LogLevel.Information, "admin listening on {Address}", EventName = "AdminListening")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(4001, LogLevel.Information, "admin {Method} {Path} -> {Status}", EventName = "AdminRequest")]
    public static partial void Request(ILogger logger, string method, string path, int status);

    [LoggerMessage(4002, LogLevel.Error, "admin {Method} {Path} failed", EventName = "AdminError")]
    public static partial void Error(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(4003, LogLevel.Warning, "drain: new connections refused; stopping as on SIGTERM: sessions finish and the queue is tried once more within {Grace}", EventName = "Drain")]
    public static partial void Drain(ILogger logger, TimeSpan grace);

    [LoggerMessage(4004, LogLevel.Warning, "log level set to {Level} by the operator", EventName = "LogLevelChanged")]
    public static partial void LogLevelChanged(ILogger logger, string level);

    [LoggerMessage(4005, LogLevel.Information, "{What} {Action} by the operator", EventName = "Paused")]
    public static partial void Paused(ILogger logger, string what, string action);

    [LoggerMessage(4006, LogLevel.Information, "table {Table} updated by the operator: {Entries} entries from {Path}, {Skipped} line(s) skipped", EventName = "TableUpdated")]
    public static partial void TableUpdated(ILogger logger, string table, string path, int entries, int skipped);

    [LoggerMessage(4007, LogLevel.Warning, "table {Table}: update by the operator failed, lookups fail temporarily until it can be read: {Problem}", EventName = "TableUpdateFailed")]
    public static partial void TableUpdateFailed(ILogger logger, string table, string problem);
}
