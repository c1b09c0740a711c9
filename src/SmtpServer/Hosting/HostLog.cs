using Microsoft.Extensions.Logging;

namespace SmtpServer.Hosting;

/// <summary>Process and listener events, ids 1000-1099 (STYLE.md §9.6).</summary>
internal static partial class HostLog
{
    [LoggerMessage(1000, LogLevel.Information, "smtpd listening on {EndPoint} listener={Listener} hostname={Hostname}", EventName = "Listening")]
    public static partial void Listening(ILogger logger, string endPoint, string listener, string hostname);

    [LoggerMessage(1001, LogLevel.Information, "smtpd stopping: new connections refused, sessions in progress have {Timeout} to finish", EventName = "Stopping")]
    public static partial void Stopping(ILogger logger, TimeSpan timeout);

    [LoggerMessage(1002, LogLevel.Information, "smtpd stopped", EventName = "Stopped")]
    public static partial void Stopped(ILogger logger);
}
