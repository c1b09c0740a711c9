using System.Net;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Routing;

/// <summary>
/// Chooses an action for a recipient from the ordered <c>rules:</c> (first match wins), or
/// rejects it. Evaluated at RCPT time (and later, by the routing issue, for every address
/// produced by alias expansion).
/// </summary>
internal interface IRouter
{
    ValueTask<RouteDecision> RouteAsync(RoutingRequest request, CancellationToken cancellationToken);
}

/// <summary>Everything a rule may look at.</summary>
internal sealed record RoutingRequest
{
    public required IPAddress? ClientAddress { get; init; }

    public required string Listener { get; init; }

    public string? Helo { get; init; }

    public required Mailbox? Sender { get; init; }

    public required Mailbox Recipient { get; init; }

    public bool Tls { get; init; }

    public string? AuthenticatedUser { get; init; }

    /// <summary>The client's verified reverse DNS name, when known.</summary>
    public string? ClientHostName { get; init; }

    /// <summary>
    /// The client's reverse lookup failed for now (SERVFAIL, timeout): without a name, a rule's
    /// rdns condition cannot be answered, and says so (<see cref="ReverseDnsUnavailableException"/>).
    /// </summary>
    public bool ReverseLookupFailed { get; init; }

    /// <summary>
    /// The names of the client's TLS certificate, only when it was verified against
    /// <c>tls.clientCa</c>: its subject CN, then its DNS subject alternative names (wildcard
    /// names left out). Empty without a verified certificate.
    /// </summary>
    public IReadOnlyList<string> ClientCertificateNames { get; init; } = [];
}

/// <summary>The outcome for one recipient: an action name, or a reply that rejects it.</summary>
internal sealed record RouteDecision
{
    private RouteDecision(string? action, SmtpReply? reject)
    {
        Action = action;
        Reject = reject;
    }

    public string? Action { get; }

    public SmtpReply? Reject { get; }

    public bool Accepted => Action is not null;

    public static RouteDecision Deliver(string action) => new(action, null);

    public static RouteDecision Rejected(SmtpReply reply) => new(null, reply);
}
