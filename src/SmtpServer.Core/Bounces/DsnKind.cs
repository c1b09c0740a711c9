namespace SmtpServer.Core.Bounces;

/// <summary>What a delivery status notification reports (RFC 3464 §2.3.3 Action).</summary>
internal enum DsnKind
{
    /// <summary>Action: failed. A bounce: permanent failure or expiry.</summary>
    Failed,

    /// <summary>Action: delayed. A delay warning at a <c>queue.delayWarnings</c> step.</summary>
    Delayed,

    /// <summary>Action: delivered. Only with NOTIFY=SUCCESS.</summary>
    Delivered,
}
