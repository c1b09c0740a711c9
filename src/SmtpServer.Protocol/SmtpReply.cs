namespace SmtpServer.Protocol;

/// <summary>
/// One SMTP reply: a three-digit code, an RFC 3463 enhanced status code (omitted only where the
/// RFCs say so, e.g. the greeting and EHLO lines) and one or more text lines.
/// </summary>
internal sealed class SmtpReply
{
    public SmtpReply(int code, string? status, string text)
        : this(code, status, [text])
    {
    }

    public SmtpReply(int code, string? status, IReadOnlyList<string> lines)
    {
        if (code is < 200 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(code));
        }

        if (lines.Count == 0)
        {
            throw new ArgumentException("A reply has at least one line.", nameof(lines));
        }

        Code = code;
        Status = status;
        Lines = lines;
    }

    public int Code { get; }

    /// <summary>The enhanced status code, e.g. "5.5.1", or null.</summary>
    public string? Status { get; }

    public IReadOnlyList<string> Lines { get; }

    public bool IsPositive => Code < 400;

    public bool IsTransientFailure => Code is >= 400 and < 500;

    public bool IsPermanentFailure => Code >= 500;

    /// <summary>421 replies close the session (RFC 5321 §3.8).</summary>
    public bool ClosesSession => Code == 421;

    public override string ToString() => Status is null
        ? $"{Code} {string.Join(" / ", Lines)}"
        : $"{Code} {Status} {string.Join(" / ", Lines)}";
}
