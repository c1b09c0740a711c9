using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Core.Scheduling;
using SmtpServer.Delivery.Relay;
using SmtpServer.Protocol;
using SmtpServer.Testing;
using static SmtpServer.Delivery.Tests.Relay.RelayPeerScripts;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// relay.rateLimit through the agent and through the real scheduler, on a fake clock: a message
/// over the limit is deferred to its turn (no connection, no attempt, no route penalty) and
/// then delivered; the destination never sees more than N messages per interval.
/// </summary>
public sealed class RelayRateLimitTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);

    private readonly TempDirectory _dir = new("relay-rate");
    private readonly FakeTimeProvider _time = new(T0);
    private readonly ConcurrentQueue<DateTimeOffset> _arrivals = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A peer that accepts everything and notes the (fake) time each message arrived.</summary>
    private ScriptedLinePeer Peer() => new(async c =>
    {
        await GreetAsync(c, "8BITMIME", "PIPELINING");
        await AcceptAllAsync(c, _ => _arrivals.Enqueue(_time.GetUtcNow()));
    });

    private RelayAgent Agent(ScriptedLinePeer peer, CollectingLogger<RelayAgent>? log = null) => new("relay", new RelayAgentOptions
    {
        Hosts = [Smarthost.Parse(new Uri($"smtp+notls://127.0.0.1:{peer.Port}"), out _)],
        RateLimit = new RelayRateLimit(2, TimeSpan.FromMinutes(1)),
        HeloName = Helo,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        CommandTimeout = TimeSpan.FromSeconds(10),
    }, _time, (Microsoft.Extensions.Logging.ILogger<RelayAgent>?)log ?? NullLogger<RelayAgent>.Instance);

    [Fact]
    public async Task Over_the_limit_a_message_is_deferred_to_its_turn_without_a_connection_or_a_penalty()
    {
        await using var peer = Peer();
        var log = new CollectingLogger<RelayAgent>();
        await using var agent = Agent(peer, log);
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        Assert.Equal(DeliveryStatus.Delivered, (await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default))[0].Status);
        Assert.Equal(DeliveryStatus.Delivered, (await agent.DeliverAsync(TestMessages.Request(message, "b@example.org"), default))[0].Status);

        var third = TestMessages.Request(message, "c@example.org", "d@example.org");
        var deferred = await agent.DeliverAsync(third, default);
        Assert.All(deferred, r => Assert.Equal(DeliveryStatus.Deferred, r.Status));
        Assert.All(deferred, r => Assert.Equal(T0 + TimeSpan.FromMinutes(1), r.RetryAt));
        Assert.StartsWith("rate limit of 127.0.0.1:", deferred[0].Diagnostic, StringComparison.Ordinal);
        Assert.Equal(1, agent.ConnectionsOpened);
        Assert.Equal(2, _arrivals.Count);

        // Not a failure: no "mta delivery" line, no route pause.
        Assert.DoesNotContain(log.Entries, e => e.EventId.Id == 3104);
        Assert.Equal(2, log.Entries.Count(e => e.EventId.Id == 3100));

        // Too early, the same answer; at its turn, it goes.
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(T0 + TimeSpan.FromMinutes(1), (await agent.DeliverAsync(third, default))[0].RetryAt);
        _time.Advance(TimeSpan.FromSeconds(30));
        var delivered = await agent.DeliverAsync(third, default);
        Assert.All(delivered, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        Assert.Equal(3, _arrivals.Count);
        Assert.Empty(peer.Errors);
    }

    [Fact]
    public async Task Through_the_scheduler_five_messages_at_two_per_minute_arrive_in_three_windows_with_no_attempt_lost()
    {
        await using var peer = Peer();
        await using var agent = Agent(peer);
        var store = new FileQueueStore(new FileQueueStoreOptions(_dir.Combine("queue")) { MinFreeSpacePercent = 0 }, _time, NullLogger<FileQueueStore>.Instance);
        var log = new CollectingLogger<Scheduler>();
        var router = new RejectingRouter();
        var bounces = new BounceSender(new BounceOptions("mx.us.test"), store, router, _time, NullLogger<BounceSender>.Instance);
        await using var scheduler = new Scheduler(new SchedulerOptions(), store, new OneAgent(agent), bounces, _time, log);

        // All in the spool before the start: they fall due together.
        for (var i = 0; i < 5; i++)
        {
            await CommitAsync(store, $"user{i}@example.org");
        }

        await scheduler.StartAsync(CancellationToken.None);
        for (var steps = 0; _arrivals.Count < 5; steps++)
        {
            Assert.True(steps < 100, "the schedule did not settle");
            var next = await scheduler.WhenIdleAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (next is { } due && due > _time.GetUtcNow())
            {
                _time.SetUtcNow(due);
            }
        }

        var minute = TimeSpan.FromMinutes(1);
        Assert.Equal([T0, T0, T0 + minute, T0 + minute, T0 + (2 * minute)], _arrivals.Order());
        Assert.Null(await scheduler.WhenIdleAsync().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Empty(store.Load(CancellationToken.None));

        // Three deferrals, and every delivery line is a success: nothing counted as a failure.
        Assert.Equal(3, log.Entries.Count(e => e.EventId.Id == 2117));
        var deliveries = log.Entries.Where(e => e.EventId.Id == 2101).Select(e => e.Message).ToList();
        Assert.Equal(5, deliveries.Count);
        Assert.All(deliveries, d => Assert.Contains("result=Ok", d, StringComparison.Ordinal));
        Assert.Empty(peer.Errors);
    }

    private async Task CommitAsync(FileQueueStore store, string recipient)
    {
        var spool = await store.CreateMessageAsync(CancellationToken.None);
        await using (spool)
        {
            await spool.Writer.WriteAsync(Encoding.ASCII.GetBytes("Received: from client.example.org\r\nSubject: rate\r\n\r\nHello.\r\n"));
            var at = recipient.IndexOf('@', StringComparison.Ordinal);
            await spool.CommitAsync(
                new MessageEnvelope
                {
                    Id = spool.Id,
                    Sender = new Mailbox("sender", "example.net"),
                    MailParameters = MailParameters.Empty,
                    Recipients = [new RecipientEnvelope(new Mailbox(recipient[..at], recipient[(at + 1)..]), RcptParameters.Empty, "relay")],
                    Listener = "mx",
                    ClientAddress = "192.0.2.1",
                    Helo = "client.example.org",
                    ReceivedAt = _time.GetUtcNow(),
                },
                CancellationToken.None);
        }
    }

    private sealed class OneAgent(IDeliveryAgent agent) : IDeliveryAgentFactory
    {
        public IDeliveryAgent? Create(string action) => action == agent.Action ? agent : null;
    }

    /// <summary>No bounce is expected; one would be refused rather than go anywhere.</summary>
    private sealed class RejectingRouter : IRouter
    {
        public ValueTask<RouteDecision> RouteAsync(RoutingRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(RouteDecision.Rejected(new SmtpReply(550, "5.7.1", "no bounces here")));
    }
}
