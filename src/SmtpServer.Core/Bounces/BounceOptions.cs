namespace SmtpServer.Core.Bounces;

/// <summary>How DSNs are written.</summary>
/// <param name="Hostname">Reporting-MTA and the MAILER-DAEMON address (server.hostname).</param>
internal sealed record BounceOptions(string Hostname)
{
    /// <summary>
    /// With RET=FULL a failure DSN returns the whole message up to this size; a larger one is
    /// returned as headers only (as Postfix's bounce_size_limit does), so a bounce never
    /// carries a 35 MiB attachment back.
    /// </summary>
    public long MaxReturnedMessageSize { get; init; } = 1024 * 1024;

    /// <summary>Cap on the header section read from the original (the session bounds it at 1 MiB too).</summary>
    public int MaxReturnedHeaderSize { get; init; } = 1024 * 1024;
}
