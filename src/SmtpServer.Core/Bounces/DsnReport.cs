namespace SmtpServer.Core.Bounces;

/// <summary>One DSN: one message, one kind, the recipients it reports on.</summary>
/// <param name="Kind">failed, delayed or delivered.</param>
/// <param name="MessagePath">The original message in the spool (for its headers, or all of it with RET=FULL).</param>
/// <param name="Recipients">At least one; all of the same message.</param>
/// <param name="RetryUntil">For delay warnings: when the queue gives up (Will-Retry-Until).</param>
internal sealed record DsnReport(DsnKind Kind, string MessagePath, IReadOnlyList<DsnRecipient> Recipients, DateTimeOffset? RetryUntil = null);
