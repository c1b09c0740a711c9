namespace SmtpServer.Protocol;

/// <summary>Outcome of <see cref="SmtpLineReader.TryReadLine"/>.</summary>
internal enum LineStatus
{
    /// <summary>No LF yet, and fewer than the maximum number of bytes buffered: read more.</summary>
    Incomplete,

    /// <summary>A whole line is available.</summary>
    Complete,

    /// <summary>The maximum was reached without a LF: reply and discard with <see cref="SmtpLineReader.TrySkipLine"/>.</summary>
    TooLong,
}
