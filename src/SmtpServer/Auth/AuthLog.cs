using Microsoft.Extensions.Logging;

namespace SmtpServer.Auth;

/// <summary>
/// Authentication events, OpenSMTPD's wording ("smtp authentication user=… result=ok|permfail").
/// Never a password. Event ids 1230-1249 (STYLE.md §9.6).
/// </summary>
internal static partial class AuthLog
{
    [LoggerMessage(1230, LogLevel.Information, "{SessionId} smtp authentication user={User} result={Result}", EventName = "SmtpAuthentication")]
    public static partial void Result(ILogger logger, string sessionId, string user, string result);

    [LoggerMessage(1231, LogLevel.Warning, "{SessionId} smtp authentication lockout address={Address} failures={Failures} until={Until:O}", EventName = "SmtpAuthenticationLockout")]
    public static partial void Lockout(ILogger logger, string sessionId, string address, int failures, DateTimeOffset until);

    [LoggerMessage(1232, LogLevel.Warning, "credentials table {Path}: line {Line} is not user:hash with a $2a$/$2b$/$2y$ or $6$ hash; ignored", EventName = "BadCredentialLine")]
    public static partial void BadCredentialLine(ILogger logger, string path, int line);

    [LoggerMessage(1233, LogLevel.Error, "{SessionId} smtp authentication tempfail: credentials table unavailable", EventName = "SmtpAuthenticationTempfail")]
    public static partial void TableUnavailable(ILogger logger, string sessionId, Exception exception);
}
