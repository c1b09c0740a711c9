using Microsoft.Extensions.Time.Testing;
using MimeKit;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Bounces;

/// <summary>A DSN is committed into the queue like any message, routed from a local source with the null sender.</summary>
public sealed class BounceSenderTests : IDisposable
{
    private readonly TempDirectory _directory = new("smtpd-bounce");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 11, 30, 8, 0, 0, TimeSpan.Zero));
    private readonly CollectingLogger<BounceSender> _log = new();
    private readonly FileQueueStore _store;

    public BounceSenderTests() =>
        _store = new FileQueueStore(new FileQueueStoreOptions(_directory.Combine("queue")) { MinFreeSpacePercent = 0 }, _time, new CollectingLogger<FileQueueStore>());

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task The_DSN_is_committed_from_the_null_sender_to_the_original_sender_with_the_routed_action()
    {
        var router = new RuleRouter([Rule.Deliver(LocalSourceCondition.Instance, AnyCondition.Instance, "outbound")]);
        var sender = new BounceSender(new BounceOptions("mx.example.org"), _store, router, _time, _log);

        var stored = await sender.SendAsync(Report(DsnBuilderTests.Envelope("user@example.net", "sender@example.org")), CancellationToken.None);

        Assert.NotNull(stored);
        var loaded = Assert.Single(_store.Load());
        Assert.Equal(stored.Id, loaded.Id);
        var envelope = Assert.Single(loaded.Envelopes);
        Assert.Null(envelope.Sender);
        Assert.Equal("sender@example.org", envelope.RecipientMailbox.Address);
        Assert.Equal("outbound", envelope.Action);
        Assert.Equal(DsnNotify.Never, envelope.Notify);
        Assert.Equal("local", envelope.Listener);
        Assert.Equal(_time.GetUtcNow(), envelope.ReceivedAt);

        var bytes = await File.ReadAllBytesAsync(loaded.MessagePath);
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == '\n')
            {
                Assert.Equal((byte)'\r', bytes[i - 1]); // CRLF only, as every spooled message
            }
        }

        var dsn = DsnParts.Parse(bytes);
        Assert.Equal("failed", dsn.Recipients[0]["Action"]);
        Assert.Contains(_log.Entries, e => e.EventId.Id == 2200);
    }

    [Fact]
    public async Task No_rule_for_the_sender_drops_the_DSN_and_logs_it()
    {
        var router = new RuleRouter([Rule.Reject(AnyCondition.Instance, AnyCondition.Instance)]);
        var sender = new BounceSender(new BounceOptions("mx.example.org"), _store, router, _time, _log);

        Assert.Null(await sender.SendAsync(Report(DsnBuilderTests.Envelope("user@example.net")), CancellationToken.None));
        Assert.Empty(_store.Load());
        Assert.Contains(_log.Entries, e => e.EventId.Id == 2201);
    }

    [Fact]
    public async Task An_internationalized_sender_gets_an_SMTPUTF8_DSN()
    {
        var router = new RuleRouter([Rule.Deliver(AnyCondition.Instance, AnyCondition.Instance, "local")]);
        var sender = new BounceSender(new BounceOptions("mx.example.org"), _store, router, _time, _log);

        await sender.SendAsync(Report(DsnBuilderTests.Envelope("user@example.net", "zoë@bücher.example")), CancellationToken.None);

        var loaded = Assert.Single(_store.Load());
        Assert.True(Assert.Single(loaded.Envelopes).SmtpUtf8);
        var message = MimeMessage.Load(loaded.MessagePath);
        Assert.Equal("zoë@bücher.example", Assert.Single(message.To.Mailboxes).Address);
    }

    [Fact]
    public async Task After_an_update_DSNs_are_routed_by_the_new_rules_with_the_new_hostname()
    {
        var sender = new BounceSender(new BounceOptions("mx.example.org"), _store, new RuleRouter([Rule.Deliver(AnyCondition.Instance, AnyCondition.Instance, "old")]), _time, _log);
        sender.Update(new BounceOptions("mx2.example.org"), new RuleRouter([Rule.Deliver(AnyCondition.Instance, AnyCondition.Instance, "new")]));

        await sender.SendAsync(Report(DsnBuilderTests.Envelope("user@example.net", "sender@example.org")), CancellationToken.None);

        var loaded = Assert.Single(_store.Load());
        var envelope = Assert.Single(loaded.Envelopes);
        Assert.Equal("new", envelope.Action);
        Assert.Equal("mx2.example.org", envelope.Helo);
        Assert.Equal("MAILER-DAEMON@mx2.example.org", Assert.Single(MimeMessage.Load(loaded.MessagePath).From.Mailboxes).Address);
    }

    private string Original()
    {
        var path = _directory.Combine("original");
        File.WriteAllText(path, "Subject: hi\r\n\r\nbody\r\n");
        return path;
    }

    private DsnReport Report(EnvelopeRecord envelope) =>
        new(DsnKind.Failed, Original(), [new DsnRecipient(envelope, "5.1.1", "550 5.1.1 No such user", null, _time.GetUtcNow())]);
}
