using System.Text;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Core.Scheduling;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>
/// A real spool in a temp directory, a fake clock, fake agents by action name, and the real
/// bounce path: DSNs are routed (to the "dsn" action unless a test says otherwise), committed
/// and delivered to the "dsn" agent like any message.
/// </summary>
internal sealed class SchedulerFixture : IAsyncDisposable, IDeliveryAgentFactory, IRouter
{
    public static readonly DateTimeOffset T0 = new(2025, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private readonly List<Scheduler> _schedulers = [];

    public SchedulerFixture()
    {
        Store = OpenStore();
        Dsn = Agent("dsn");
    }

    public TempDirectory Directory { get; } = new("smtpd-sched");

    public FakeTimeProvider Time { get; } = new(T0);

    public FileQueueStore Store { get; private set; }

    public Dictionary<string, FakeAgent> Agents { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Receives every DSN.</summary>
    public FakeAgent Dsn { get; }

    /// <summary>The action DSNs are routed to; null: no rule accepts the sender.</summary>
    public string? BounceAction { get; set; } = "dsn";

    public List<RoutingRequest> RoutingRequests { get; } = [];

    public CollectingLogger<Scheduler> Log { get; } = new();

    public CollectingLogger<BounceSender> BounceLog { get; } = new();

    public CollectingLogger<FileQueueStore> QueueLog { get; } = new();

    public FakeAgent Agent(string action, bool isLocal = true)
    {
        var agent = new FakeAgent(action, isLocal, Time);
        Agents[action] = agent;
        return agent;
    }

    public FileQueueStore OpenStore() =>
        new(new FileQueueStoreOptions(Directory.Path) { MinFreeSpacePercent = 0 }, Time, QueueLog);

    /// <summary>A new store object over the same spool, as after a restart.</summary>
    public FileQueueStore Restart() => Store = OpenStore();

    public Scheduler CreateScheduler(SchedulerOptions? options = null, IEnvelopeStore? store = null)
    {
        store ??= Store;
        var bounces = new BounceSender(new BounceOptions("mx.example.org"), store, this, Time, BounceLog);
        var scheduler = new Scheduler(options ?? new SchedulerOptions(), store, this, bounces, Time, Log);
        _schedulers.Add(scheduler);
        return scheduler;
    }

    public async Task<Scheduler> StartAsync(SchedulerOptions? options = null)
    {
        var scheduler = CreateScheduler(options);
        await scheduler.StartAsync(CancellationToken.None);
        return scheduler;
    }

    public Task<StoredMessage> CommitAsync(params string[] recipients) =>
        CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "local", RcptParameters.Empty, recipients);

    public async Task<StoredMessage> CommitAsync(Mailbox? sender, MailParameters mail, string action, RcptParameters rcpt, params string[] recipients)
    {
        var spool = await Store.CreateMessageAsync(CancellationToken.None);
        await using (spool)
        {
            await spool.Writer.WriteAsync(Encoding.ASCII.GetBytes("Received: from client.example.org\r\nSubject: test message\r\nMessage-ID: <m1@example.org>\r\n\r\nHello.\r\n"));
            return await spool.CommitAsync(
                new MessageEnvelope
                {
                    Id = spool.Id,
                    Sender = sender,
                    MailParameters = mail,
                    Recipients = [.. recipients.Select(r => new RecipientEnvelope(Parse(r), rcpt, action))],
                    Listener = "mx",
                    ClientAddress = "192.0.2.1",
                    Helo = "client.example.org",
                    ReceivedAt = Time.GetUtcNow(),
                },
                CancellationToken.None);
        }
    }

    public static Mailbox Parse(string address)
    {
        var at = address.LastIndexOf('@');
        return new Mailbox(address[..at], address[(at + 1)..]);
    }

    /// <summary>
    /// Lets the scheduler work, moving the clock from one due time to the next, until nothing
    /// is due at or before <paramref name="end"/>; the clock then stands at <paramref name="end"/>.
    /// </summary>
    public async Task RunUntilAsync(Scheduler scheduler, DateTimeOffset end)
    {
        for (var steps = 0; steps < 100_000; steps++)
        {
            var next = await scheduler.WhenIdleAsync().WaitAsync(TimeSpan.FromSeconds(20));
            if (next is not { } due || due > end)
            {
                if (Time.GetUtcNow() < end)
                {
                    Time.SetUtcNow(end);
                    continue;
                }

                return;
            }

            if (due > Time.GetUtcNow())
            {
                Time.SetUtcNow(due);
            }
        }

        throw new InvalidOperationException("The schedule did not settle.");
    }

    /// <summary>Waits (10 s at most, in real time) until <paramref name="condition"/> holds.</summary>
    public static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(5);
        }
    }

    /// <summary>The DSNs the "dsn" agent received, parsed.</summary>
    public IReadOnlyList<MimeMessage> ReceivedDsns() =>
        [.. Dsn.Calls.Select(c => MimeMessage.Load(new MemoryStream(c.Message)))];

    public IDeliveryAgent? Create(string action) => Agents.GetValueOrDefault(action);

    public ValueTask<RouteDecision> RouteAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        lock (RoutingRequests)
        {
            RoutingRequests.Add(request);
        }

        return ValueTask.FromResult(BounceAction is { } action
            ? RouteDecision.Deliver(action)
            : RouteDecision.Rejected(new SmtpReply(550, "5.7.1", "Relaying denied")));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var scheduler in _schedulers)
        {
            await scheduler.DisposeAsync();
        }

        Directory.Dispose();
    }
}
