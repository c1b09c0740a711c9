using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Configuration;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Hosting;
using SmtpServer.Protocol;
using SmtpServer.Tests.Infrastructure;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Hosting;

/// <summary>The host runs the scheduler with the configured agents: accepted mail moves.</summary>
public sealed class SchedulerWiringTests
{
    private static async Task SendAsync(SocketSmtpServer server, string recipient)
    {
        await using var c = await server.ConnectAsync();
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync($"RCPT TO:<{recipient}>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: hi\r\n\r\nhello\r\n.")).Code);
        Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);
    }

    [Fact]
    public async Task Accepted_mail_lands_in_the_maildir_and_leaves_the_queue()
    {
        using var mail = new TempDirectory("smtpd-maildir");
        var actions = new Dictionary<string, ActionSettings>(StringComparer.OrdinalIgnoreCase)
        {
            ["local"] = new ActionSettings { Name = "local", Agent = new MaildirAgentSettings(mail.Combine("{user}", "Maildir")) },
        };
        await using var server = await SocketSmtpServer.StartAsync(s => s with { ActionDefinitions = actions });
        await SendAsync(server, "someone@example.org");

        var newDir = mail.Combine("someone", "Maildir", "new");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!Directory.Exists(newDir) || Directory.GetFiles(newDir).Length == 0 || server.Committed().Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the message never reached the maildir and left the queue");
            await Task.Delay(20);
        }

        var delivered = await File.ReadAllTextAsync(Assert.Single(Directory.GetFiles(newDir)));
        Assert.StartsWith("Return-Path: <a@example.com>\r\nDelivered-To: someone@example.org\r\nReceived: from client.example", delivered, StringComparison.Ordinal);
        Assert.EndsWith("\r\nSubject: hi\r\n\r\nhello\r\n", delivered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mail_for_an_unreachable_smarthost_is_attempted_and_stays_queued()
    {
        var actions = new Dictionary<string, ActionSettings>(StringComparer.OrdinalIgnoreCase)
        {
            ["local"] = new ActionSettings { Name = "local", Agent = new RelayAgentSettings(new Uri("smtp://127.0.0.1:1"), null) },
        };
        await using var server = await SocketSmtpServer.StartAsync(s => s with { ActionDefinitions = actions });
        await SendAsync(server, "b@example.org");

        EnvelopeRecord? record = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (record is not { Attempts: > 0 })
        {
            Assert.True(DateTime.UtcNow < deadline, "the scheduler never tried the message");
            await Task.Delay(20);
            record = server.Committed().SingleOrDefault()?.Envelopes.Single();
        }

        Assert.StartsWith("Network error on destination MXs: 127.0.0.1 [127.0.0.1]", record.LastError, StringComparison.Ordinal);
        Assert.NotNull(record.NextAttempt);
    }

    [Fact]
    public async Task Alias_targets_follow_the_permission_of_the_current_configuration()
    {
        using var dir = new TempDirectory("smtpd-factory");
        var local = new ActionSettings { Name = "local", Agent = new MaildirAgentSettings(dir.Combine("{user}")), AliasTargets = AliasTargetPermissions.Commands };
        var current = new Dictionary<string, ActionSettings>(StringComparer.OrdinalIgnoreCase) { ["local"] = local };
        var factory = new ConfiguredDeliveryAgentFactory(current, NullLoggerFactory.Instance, TimeProvider.System, currentActions: () => current);
        var agent = factory.Create("local")!;
        var message = dir.Combine("message");
        await File.WriteAllTextAsync(message, "Subject: hi\r\n\r\nhello\r\n");
        var copy = dir.Combine("copy");
        var record = EnvelopeRecord.Create(
            new MessageEnvelope
            {
                Id = new QueueId(1),
                Sender = null,
                MailParameters = MailParameters.Empty,
                Recipients = [new RecipientEnvelope(new Mailbox("list", "example.org"), RcptParameters.Empty, "local", DeliveryTarget.Command(["/usr/bin/tee", copy]))],
                Listener = "mx",
                ClientAddress = "127.0.0.1",
                Helo = "x",
                ReceivedAt = DateTimeOffset.UnixEpoch,
            },
            0);

        // A reload that withdraws the permission holds the queued command: it is not run.
        current = new(StringComparer.OrdinalIgnoreCase) { ["local"] = local with { AliasTargets = AliasTargetPermissions.None } };
        var held = Assert.Single(await agent.DeliverAsync(new DeliveryRequest(record.MessageId, message, [record]), CancellationToken.None));
        Assert.Equal(DeliveryStatus.TemporaryFailure, held.Status);
        Assert.Equal("4.7.1", held.EnhancedStatus);
        Assert.False(File.Exists(copy));

        current = new(StringComparer.OrdinalIgnoreCase) { ["local"] = local };
        var delivered = Assert.Single(await agent.DeliverAsync(new DeliveryRequest(record.MessageId, message, [record]), CancellationToken.None));
        Assert.Equal(DeliveryStatus.Delivered, delivered.Status);
        Assert.Equal("Return-Path: <>\r\nDelivered-To: list@example.org\r\nSubject: hi\r\n\r\nhello\r\n", await File.ReadAllTextAsync(copy));
        Assert.Equal("command:|/usr/bin/tee " + copy, agent.DestinationOf(record));
    }

    [Fact]
    public async Task Factory_knows_the_configured_actions_only()
    {
        var actions = new Dictionary<string, ActionSettings>(StringComparer.OrdinalIgnoreCase)
        {
            ["local"] = new ActionSettings { Name = "local", Agent = new MaildirAgentSettings("/var/mail/{user}/Maildir") },
            ["outbound"] = new ActionSettings { Name = "outbound", Agent = new RelayAgentSettings(null, null) },
        };
        var factory = new ConfiguredDeliveryAgentFactory(actions, NullLoggerFactory.Instance, TimeProvider.System);

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
        Assert.StartsWith("cannot read the queued message", result.Diagnostic, StringComparison.Ordinal);
    }
}
