using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Delivery;

/// <summary>
/// A delivery agent (maildir, mbox, lmtp, command, smtp), one instance per configured action.
/// The scheduler hands it one message with the recipients of that message that share this
/// action and destination; the agent answers one result per recipient. An agent never throws
/// for a delivery problem: it reports it (an exception is treated as a temporary failure of
/// every recipient).
/// </summary>
internal interface IDeliveryAgent
{
    /// <summary>The action name from <c>actions:</c> this instance serves.</summary>
    string Action { get; }

    /// <summary>True for agents that deliver on this host (retry every 10 s·n²), false for relays (400 s·n²).</summary>
    bool IsLocal { get; }

    /// <summary>
    /// The grouping key within the action: recipients with the same key go in one call
    /// (e.g. the recipient domain for a relay, the mailbox path for maildir).
    /// </summary>
    string DestinationOf(EnvelopeRecord envelope);

    ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken);
}

/// <summary>One message and some of its recipients, for one agent.</summary>
/// <param name="MessageId">The queue id.</param>
/// <param name="MessagePath">The spool file with the message as received (our Received header first, CRLF).</param>
/// <param name="Recipients">The envelopes to deliver now (same message, same action and destination).</param>
internal sealed record DeliveryRequest(QueueId MessageId, string MessagePath, IReadOnlyList<EnvelopeRecord> Recipients);

internal enum DeliveryStatus
{
    Delivered,
    TemporaryFailure,
    PermanentFailure,

    /// <summary>
    /// Not attempted: the agent holds the recipient back until <see cref="DeliveryResult.RetryAt"/>
    /// (a relay's rate limit). Not an attempt: no count, no error, no retry backoff.
    /// </summary>
    Deferred,
}

/// <summary>The outcome for one envelope.</summary>
/// <param name="Envelope">Which recipient.</param>
/// <param name="Status">Delivered, retry later, or bounce.</param>
/// <param name="Diagnostic">What happened, e.g. the remote's "550 5.1.1 No such user" or "maildir: disk full";
/// recorded in the envelope and used in DSNs (Diagnostic-Code). Never null for failures.</param>
/// <param name="EnhancedStatus">RFC 3463 status for DSNs, e.g. "5.1.1" or "4.3.0".</param>
/// <param name="RemoteMta">The host that answered, for relays (DSN Remote-MTA).</param>
internal sealed record DeliveryResult(EnvelopeId Envelope, DeliveryStatus Status, string? Diagnostic = null, string? EnhancedStatus = null, string? RemoteMta = null)
{
    /// <summary>For <see cref="DeliveryStatus.Deferred"/>: when to offer the recipient again.</summary>
    public DateTimeOffset? RetryAt { get; init; }

    // Where the attempt went, for the envelope's attempt history (smtpctl show envelope,
    // explain). Optional: an agent that leaves them null still works; the history then has
    // the result and the text alone.

    /// <summary>The MX or smarthost name a relay talked to (or last tried when none answered).</summary>
    public string? RemoteHost { get; init; }

    /// <summary>The address used: a relay's IP address, an LMTP agent's endpoint.</summary>
    public string? RemoteAddress { get; init; }

    /// <summary>The TLS version of the session, e.g. TLSv1.3; null without TLS.</summary>
    public string? TlsProtocol { get; init; }

    /// <summary>A local agent's destination: the maildir, the mbox file, the program run.</summary>
    public string? Destination { get; init; }

    public static DeliveryResult Ok(EnvelopeId envelope) => new(envelope, DeliveryStatus.Delivered);

    public static DeliveryResult Temporary(EnvelopeId envelope, string status, string diagnostic) =>
        new(envelope, DeliveryStatus.TemporaryFailure, diagnostic, status);

    public static DeliveryResult Permanent(EnvelopeId envelope, string status, string diagnostic) =>
        new(envelope, DeliveryStatus.PermanentFailure, diagnostic, status);

    public static DeliveryResult Deferred(EnvelopeId envelope, DateTimeOffset retryAt, string reason) =>
        new(envelope, DeliveryStatus.Deferred, reason) { RetryAt = retryAt };
}
