using SmtpServer.Configuration;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Hosting;
using SmtpServer.Protocol;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Hosting;

/// <summary>The host runs the scheduler: accepted mail reaches an agent, here the not-yet-available placeholder.</summary>
public sealed class SchedulerWiringTests
{
    private static readonly Dictionary<string, ActionSettings> Actions = new(StringComparer.OrdinalIgnoreCase)
    {
        ["local"] = new ActionSettings { Name = "local", Agent = new MaildirAgentSettings("/var/mail/{user}/Maildir") },
        ["outbound"] = new ActionSettings { Name = "outbound", Agent = new RelayAgentSettings(null, null) },
    };

    [Fact]
    public async Task Accepted_mail_is_attempted_and_stays_queued_while_its_agent_is_not_available()
    {
        await using var server = await SocketSmtpServer.StartAsync(s => s with { ActionDefinitions = Actions });
        await using (var c = await server.ConnectAsync())
        {
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
            Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
            Assert.Equal(250, (await c.CommandAsync("RCPT TO:<b@example.org>")).Code);
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await c.CommandAsync("Subject: hi\r\n\r\nhello\r\n.")).Code);
            Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);
        }

        EnvelopeRecord? record = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (record is not { Attempts: > 0 })
        {
            Assert.True(DateTime.UtcNow < deadline, "the scheduler never tried the message");
            await Task.Delay(20);
            record = server.Committed().SingleOrDefault()?.Envelopes.Single();
        }

        Assert.Equal("local", record.Action);
        Assert.Equal("agent maildir not available yet", record.LastError);
        Assert.NotNull(record.NextAttempt);
    }

    [Fact]
    public async Task Placeholder_factory_knows_the_configured_actions_only()
    {
        var factory = new ConfiguredDeliveryAgentFactory(Actions);

        Assert.Null(factory.Create("nowhere"));
        var local = factory.Create("LOCAL");
        Assert.NotNull(local);
        Assert.True(local.IsLocal);
        var relay = factory.Create("outbound");
        Assert.NotNull(relay);
        Assert.False(relay.IsLocal);

        var record = EnvelopeRecord.Create(
            new MessageEnvelope
            {
                Id = new QueueId(1),
                Sender = null,
                MailParameters = MailParameters.Empty,
                Recipients = [new RecipientEnvelope(new Mailbox("b", "example.org"), RcptParameters.Empty, "outbound")],
                Listener = "mx",
                ClientAddress = "127.0.0.1",
                Helo = "x",
                ReceivedAt = DateTimeOffset.UnixEpoch,
            },
            0);
        var result = Assert.Single(await relay.DeliverAsync(new DeliveryRequest(record.MessageId, "/nonexistent", [record]), CancellationToken.None));
        Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
        Assert.Equal("agent relay not available yet", result.Diagnostic);
    }
}
