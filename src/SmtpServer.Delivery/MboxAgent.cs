using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>
/// mbox: { path }. Appends each recipient's copy to the mbox its path template names, through
/// <see cref="MboxWriter"/> (mboxrd quoting, dotlock and flock, truncated back on failure).
/// </summary>
internal sealed class MboxAgent : IDeliveryAgent
{
    private readonly PathTemplate _path;
    private readonly MboxWriter _writer;
    private readonly ILogger _logger;

    public MboxAgent(string action, MboxAgentOptions options, TimeProvider timeProvider, ILogger<MboxAgent> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        Action = action;
        _path = new PathTemplate(options.PathTemplate);
        _writer = new MboxWriter(action, options.EffectiveLockTimeout, options.EffectiveStaleLockAge, timeProvider, logger);
        _logger = logger;
    }

    public string Action { get; }

    public bool IsLocal => true;

    /// <summary>For tests: wraps the mbox stream (e.g. to fail after N bytes, like a full disk).</summary>
    internal Func<Stream, Stream>? OutputFilter
    {
        get => _writer.OutputFilter;
        init => _writer.OutputFilter = value;
    }

    public string DestinationOf(EnvelopeRecord envelope) => _path.DestinationOf(envelope);

    public ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return LocalDelivery.ForEachRecipientAsync(
            request, "mbox", this, _logger, (envelope, ct) => DeliverOneAsync(request.MessagePath, envelope, ct), cancellationToken);
    }

    private ValueTask<DeliveryResult> DeliverOneAsync(string messagePath, EnvelopeRecord envelope, CancellationToken cancellationToken)
    {
        var recipient = LocalRecipient.From(envelope.Recipient);
        if (!_path.TryExpand(recipient, out var mbox))
        {
            DeliveryLog.UnsafeEnvelope(_logger, Action, envelope.Id, "mailbox name");
            return ValueTask.FromResult(LocalDelivery.Fail(_logger, Action, envelope.Id, new DeliveryFailure(false, "5.1.3", $"mbox: {recipient.Address} is not a valid mailbox name")));
        }

        return _writer.AppendAsync(mbox, messagePath, envelope, cancellationToken);
    }
}
