using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>
/// What every local agent does before it touches a mailbox or starts a program: read the
/// message's <c>Delivered-To</c> fields once, then per recipient refuse envelope data that is
/// unsafe to use (DESIGN.md, decision 7) and refuse a loop; only then deliver. Every result
/// names the recipient's destination (the agent's <see cref="IDeliveryAgent.DestinationOf"/>:
/// mailbox path or program) for the attempt history.
/// </summary>
internal static class LocalDelivery
{
    public static async ValueTask<IReadOnlyList<DeliveryResult>> ForEachRecipientAsync(
        DeliveryRequest request,
        string kind,
        IDeliveryAgent agent,
        ILogger logger,
        Func<EnvelopeRecord, CancellationToken, ValueTask<DeliveryResult>> deliverOne,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(agent);
        var action = agent.Action;
        IReadOnlyList<string> deliveredTo;
        try
        {
            deliveredTo = await TraceHeaders.ReadDeliveredToAsync(request.MessagePath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [.. request.Recipients.Select(r => Fail(logger, action, r.Id, new DeliveryFailure(true, "4.3.0", $"{kind}: cannot read the queued message: {e.Message}")) with { Destination = agent.DestinationOf(r) })];
        }

        var results = new List<DeliveryResult>(request.Recipients.Count);
        foreach (var envelope in request.Recipients)
        {
            DeliveryResult result;
            if (TraceHeaders.Validate(envelope.Sender, envelope.Recipient) is { } invalid)
            {
                DeliveryLog.UnsafeEnvelope(logger, action, envelope.Id, invalid.Diagnostic);
                result = Fail(logger, action, envelope.Id, invalid);
            }
            else if (TraceHeaders.IsLoop(deliveredTo, envelope.Recipient))
            {
                DeliveryLog.LoopDetected(logger, action, envelope.Id, LocalRecipient.FormatAddress(envelope.Recipient));
                result = Fail(logger, action, envelope.Id, TraceHeaders.LoopFailure(envelope.Recipient));
            }
            else
            {
                result = await deliverOne(envelope, cancellationToken).ConfigureAwait(false);
            }

            results.Add(result with { Destination = agent.DestinationOf(envelope) });
        }

        return results;
    }

    public static DeliveryResult Fail(ILogger logger, string action, EnvelopeId envelope, DeliveryFailure failure)
    {
        DeliveryLog.DeliveryFailed(logger, action, envelope, failure.Status, failure.Diagnostic);
        return failure.ToResult(envelope);
    }
}
