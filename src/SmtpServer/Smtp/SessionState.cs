namespace SmtpServer.Smtp;

/// <summary>
/// Where a session is, kept as a breadcrumb (STYLE.md §9.7, SE.Redis ReadStatus) and shown in
/// the disconnect log line, so a report says exactly where a connection was stuck.
/// </summary>
internal enum SessionState
{
    Connected,
    ReadingCommand,
    DiscardingLongLine,
    ExecutingCommand,
    ReadingAuthResponse,
    TlsHandshake,
    ReadingData,
    ReadingChunk,
    Committing,
    Closed,
}
