using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Hosting;

/// <summary>An action whose agent is not implemented yet: every recipient fails temporarily.</summary>
internal sealed record UnavailableDeliveryAgent(string Action, string Kind, bool IsLocal) : IDeliveryAgent
{
    public string DestinationOf(EnvelopeRecord envelope) => string.Empty;

    public ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        IReadOnlyList<DeliveryResult> results =
            [.. request.Recipients.Select(r => DeliveryResult.Temporary(r.Id, "4.3.0", $"agent {Kind} not available yet"))];
        return ValueTask.FromResult(results);
    }
}
