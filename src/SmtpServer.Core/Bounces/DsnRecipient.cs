using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Bounces;

/// <summary>One recipient of a DSN.</summary>
/// <param name="Envelope">The recipient's envelope (address, ORCPT, NOTIFY, the message's ENVID, RET, arrival).</param>
/// <param name="Status">RFC 3463 status, e.g. 5.1.1, 4.4.1, 5.4.7, 2.0.0.</param>
/// <param name="Diagnostic">What the last attempt got (a remote's reply, or an agent's error); null when unknown.</param>
/// <param name="RemoteMta">The host that answered, when known.</param>
/// <param name="LastAttempt">When delivery was last tried, when it was.</param>
/// <param name="Reason">A short explanation for the human-readable part (e.g. "Envelope expired"); null to use the diagnostic.</param>
internal sealed record DsnRecipient(
    EnvelopeRecord Envelope,
    string Status,
    string? Diagnostic,
    string? RemoteMta,
    DateTimeOffset? LastAttempt,
    string? Reason = null);
