using SmtpServer.Protocol;

namespace SmtpServer.Core.Queue;

/// <summary>What the session knows of a message when it commits it.</summary>
internal sealed record MessageEnvelope
{
    public required QueueId Id { get; init; }

    /// <summary>The reverse-path; null for the null sender &lt;&gt;.</summary>
    public required Mailbox? Sender { get; init; }

    public required MailParameters MailParameters { get; init; }

    public required IReadOnlyList<RecipientEnvelope> Recipients { get; init; }

    /// <summary>The listener's configured name.</summary>
    public required string Listener { get; init; }

    public required string ClientAddress { get; init; }

    public string? ClientHostName { get; init; }

    public required string Helo { get; init; }

    public string? AuthenticatedUser { get; init; }

    public bool Tls { get; init; }

    public required DateTimeOffset ReceivedAt { get; init; }
}

/// <summary>One recipient of a message, the action the rules chose for it, and an alias's file or command target, if any.</summary>
internal sealed record RecipientEnvelope(Mailbox Recipient, RcptParameters Parameters, string Action, DeliveryTarget? Target = null);
