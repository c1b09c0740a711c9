using Microsoft.Extensions.Logging;
using MimeKit;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Bounces;

/// <summary>
/// Commits DSNs into the queue through the same path as received mail (OpenSMTPD sends them
/// through its local enqueue path as <c>MAIL FROM:&lt;&gt;</c>): the original sender is routed by
/// the rules as a recipient from a local source with the null sender, the DSN is written to a
/// new spool file and committed durably with that one routed recipient.
/// </summary>
internal sealed class BounceSender : IBounceSender
{
    /// <summary>The listener name of locally generated mail, in envelopes and routing requests.</summary>
    public const string LocalListener = "local";

    private readonly IQueueStore _queue;
    private readonly TimeProvider _time;

    // Swapped together by a reload (server.hostname, rules): a DSN uses one or the other.
    private volatile Routing _routing;
    private readonly ILogger _logger;

    public BounceSender(BounceOptions options, IQueueStore queue, IRouter router, TimeProvider time, ILogger<BounceSender> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _routing = new Routing(options, router);
        _queue = queue;
        _time = time;
        _logger = logger;
    }

    /// <summary>A reloaded configuration: DSNs from now on are written and routed by it.</summary>
    public void Update(BounceOptions options, IRouter router)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(router);
        _routing = new Routing(options, router);
    }

    public async ValueTask<StoredMessage?> SendAsync(DsnReport report, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(report);
        var (options, router) = _routing;
        var first = report.Recipients[0].Envelope;
        var to = first.SenderMailbox ?? throw new ArgumentException("No DSN goes to the null sender.", nameof(report));

        var decision = await router.RouteAsync(
            new RoutingRequest
            {
                ClientAddress = null,
                Listener = LocalListener,
                Helo = options.Hostname,
                Sender = null,
                Recipient = to,
            },
            cancellationToken).ConfigureAwait(false);
        if (decision.Action is not { } action)
        {
            BounceLog.Dropped(_logger, report.Kind, first.MessageId, to.Address);
            return null;
        }

        var now = _time.GetUtcNow();
        var message = DsnBuilder.Build(report, options, now, out var originalError);
        if (originalError is not null)
        {
            BounceLog.OriginalUnreadable(_logger, first.MessageId, originalError);
        }

        var international = to.IsInternationalized;
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        format.International = international;

        var spool = await _queue.CreateMessageAsync(cancellationToken).ConfigureAwait(false);
        await using (spool.ConfigureAwait(false))
        {
            var stream = spool.Writer.AsStream(leaveOpen: true);
            await using (stream.ConfigureAwait(false))
            {
                await message.WriteToAsync(format, stream, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            var envelope = new MessageEnvelope
            {
                Id = spool.Id,
                Sender = null,
                MailParameters = new MailParameters
                {
                    Body = ReturnsEightBit(message) ? BodyType.EightBitMime : BodyType.SevenBit,
                    SmtpUtf8 = international,
                },
                Recipients = [new RecipientEnvelope(to, new RcptParameters { Notify = DsnNotify.Never }, action)],
                Listener = LocalListener,
                ClientAddress = LocalListener,
                Helo = options.Hostname,
                ReceivedAt = now,
            };
            var stored = await spool.CommitAsync(envelope, cancellationToken).ConfigureAwait(false);
            BounceLog.Queued(_logger, stored.Id, report.Kind, first.MessageId, to.Address, action, report.Recipients.Count);
            return stored;
        }
    }

    private static bool ReturnsEightBit(MimeMessage message) =>
        message.BodyParts.OfType<MimePart>().Any(p => p.ContentTransferEncoding is ContentEncoding.EightBit or ContentEncoding.Binary);

    private sealed record Routing(BounceOptions Options, IRouter Router);
}
