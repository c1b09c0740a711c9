using SmtpServer.Core.Delivery;
using SmtpServer.Core.Scheduling;
using SmtpServer.Core.Tests.Bounces;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>Grouping, concurrency, agent failures, permanent failures and their bounces.</summary>
public sealed class SchedulerDeliveryTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = SchedulerFixture.T0;
    private static readonly Mailbox Sender = new("sender", "example.org");
    private readonly SchedulerFixture _f = new();

    public ValueTask DisposeAsync() => _f.DisposeAsync();

    [Fact]
    public async Task Recipients_with_the_same_destination_go_to_the_agent_together()
    {
        var agent = _f.Agent("local");
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("a@one.example", "b@two.example", "c@one.example"));

        await scheduler.WhenIdleAsync();

        Assert.Equal(2, agent.Calls.Count);
        var byDestination = agent.Calls.ToDictionary(c => c.Request.Recipients[0].Recipient.Domain, c => c.Request.Recipients.Select(r => r.RecipientMailbox.Address).ToArray());
        Assert.Equal(["a@one.example", "c@one.example"], byDestination["one.example"]);
        Assert.Equal(["b@two.example"], byDestination["two.example"]);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task Recipients_of_different_actions_go_to_their_own_agents()
    {
        var local = _f.Agent("local");
        var relay = _f.Agent("relay", isLocal: false);
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(Sender, MailParameters.Empty, "local", RcptParameters.Empty, "a@example.net"));
        scheduler.Enqueue(await _f.CommitAsync(Sender, MailParameters.Empty, "RELAY", RcptParameters.Empty, "b@example.net"));

        await scheduler.WhenIdleAsync();

        Assert.Equal("a@example.net", Assert.Single(Assert.Single(local.Calls).Request.Recipients).RecipientMailbox.Address);
        Assert.Equal("b@example.net", Assert.Single(Assert.Single(relay.Calls).Request.Recipients).RecipientMailbox.Address);
    }

    [Fact]
    public async Task Calls_per_action_stay_within_the_limit()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var agent = _f.Agent("local");
        agent.Behavior = async (request, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return FakeAgent.Ok(request);
        };
        var scheduler = await _f.StartAsync(new SchedulerOptions { MaxConcurrentDeliveriesPerAction = 3 });
        for (var i = 0; i < 12; i++)
        {
            scheduler.Enqueue(await _f.CommitAsync($"user{i}@example.net"));
        }

        await WaitForAsync(() => agent.Calls.Count >= 3);
        await Task.Delay(100);
        Assert.Equal(3, agent.Calls.Count);

        gate.SetResult();
        await scheduler.WhenIdleAsync();
        Assert.Equal(12, agent.Calls.Count);
        Assert.Equal(3, agent.MaxConcurrent);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task Calls_in_total_stay_within_the_limit()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var current = 0;
        var max = 0;
        var agents = new[] { _f.Agent("a"), _f.Agent("b"), _f.Agent("c") };
        foreach (var agent in agents)
        {
            agent.Behavior = async (request, ct) =>
            {
                var now = Interlocked.Increment(ref current);
                lock (agents)
                {
                    max = Math.Max(max, now);
                }

                await gate.Task.WaitAsync(ct);
                Interlocked.Decrement(ref current);
                return FakeAgent.Ok(request);
            };
        }

        // All 18 are in the spool before the scheduler starts, so all are ready at once and the
        // share each action gets does not depend on how fast commits arrive.
        for (var i = 0; i < 6; i++)
        {
            foreach (var action in new[] { "a", "b", "c" })
            {
                await _f.CommitAsync(Sender, MailParameters.Empty, action, RcptParameters.Empty, $"u{i}@example.net");
            }
        }

        var scheduler = await _f.StartAsync(new SchedulerOptions { MaxConcurrentDeliveries = 4, MaxConcurrentDeliveriesPerAction = 10 });

        await WaitForAsync(() => Volatile.Read(ref current) >= 4);
        await Task.Delay(100);
        Assert.Equal(4, Volatile.Read(ref current));

        // Every action got a share: one per action in turn.
        Assert.All(agents, a => Assert.NotEmpty(a.Calls));

        gate.SetResult();
        await scheduler.WhenIdleAsync();
        Assert.Equal(18, agents.Sum(a => a.Calls.Count));
        Assert.Equal(4, max);
    }

    [Fact]
    public async Task Agent_exception_is_a_temporary_failure_and_the_envelope_is_retried()
    {
        var agent = _f.Agent("local");
        var calls = 0;
        agent.Behavior = (request, _) => Interlocked.Increment(ref calls) == 1
            ? throw new InvalidOperationException("maildir exploded")
            : Task.FromResult(FakeAgent.Ok(request));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));

        await scheduler.WhenIdleAsync();
        var record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal(1, record.Attempts);
        Assert.Equal("local: maildir exploded", record.LastError);

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromMinutes(1));
        Assert.Equal([T0, T0 + TimeSpan.FromSeconds(10)], agent.CallTimes);
        Assert.Empty(_f.OpenStore().Load());
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2103 && e.Exception is InvalidOperationException);
        Assert.Empty(_f.Dsn.Calls);
    }

    [Fact]
    public async Task A_recipient_the_agent_does_not_answer_for_fails_temporarily()
    {
        var agent = _f.Agent("local");
        agent.Behavior = (request, _) => Task.FromResult<IReadOnlyList<DeliveryResult>>([DeliveryResult.Ok(request.Recipients[0].Id)]);
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("a@example.net", "b@example.net"));

        await scheduler.WhenIdleAsync();

        var record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal("b@example.net", record.RecipientMailbox.Address);
        Assert.Equal(1, record.Attempts);
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2111);
    }

    [Fact]
    public async Task Unknown_action_keeps_the_mail_queued_with_a_clear_error_until_the_action_exists()
    {
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(Sender, MailParameters.Empty, "removed", RcptParameters.Empty, "user@example.net"));

        await scheduler.WhenIdleAsync();
        var record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal(1, record.Attempts);
        Assert.Equal("action \"removed\" is not configured", record.LastError);
        Assert.Equal(T0 + TimeSpan.FromSeconds(400), record.NextAttempt);
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2102 && e.Message.Contains("removed", StringComparison.Ordinal));

        // The configuration gets the action back.
        var agent = _f.Agent("removed");
        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(400));
        Assert.Equal([T0 + TimeSpan.FromSeconds(400)], agent.CallTimes);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task Permanent_failures_of_one_pass_make_one_bounce_to_the_sender_then_the_envelopes_go()
    {
        var agent = _f.Agent("relay", isLocal: false);
        agent.Behavior = (request, _) => Task.FromResult(request.Recipients[0].Recipient.Domain == "ok.example"
            ? FakeAgent.Ok(request)
            : FakeAgent.Permanent(request));
        var scheduler = await _f.StartAsync();
        var message = await _f.CommitAsync(Sender, MailParameters.Empty, "relay", RcptParameters.Empty, "a@bad.example", "b@ok.example", "c@worse.example");
        scheduler.Enqueue(message);

        await scheduler.WhenIdleAsync();

        Assert.Equal(3, agent.Calls.Count);
        var call = Assert.Single(_f.Dsn.Calls);
        var dsn = DsnParts.Parse(call.Message);
        Assert.Equal(["rfc822; a@bad.example", "rfc822; c@worse.example"], dsn.Recipients.Select(r => r["Final-Recipient"]).Order());
        Assert.All(dsn.Recipients, r =>
        {
            Assert.Equal("failed", r["Action"]);
            Assert.Equal("5.1.1", r["Status"]);
            Assert.Equal("dns; mx.example.net", r["Remote-MTA"]);
            Assert.Equal("smtp; 550 5.1.1 No such user", r["Diagnostic-Code"]);
        });
        Assert.Equal("sender@example.org", Assert.Single(dsn.Message.To.Mailboxes).Address);
        Assert.Equal("MAILER-DAEMON@mx.example.org", Assert.Single(dsn.Message.From.Mailboxes).Address);

        // Routed like any message: from a local source, null sender, to the original sender.
        var routing = Assert.Single(_f.RoutingRequests);
        Assert.Null(routing.ClientAddress);
        Assert.Null(routing.Sender);
        Assert.Equal(Sender, routing.Recipient);
        Assert.Null(call.Request.Recipients[0].Sender);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task A_bounce_that_fails_is_never_bounced()
    {
        _f.Dsn.Behavior = (request, _) => Task.FromResult(FakeAgent.Permanent(request));
        var agent = _f.Agent("local");
        agent.Behavior = (request, _) => Task.FromResult(FakeAgent.Permanent(request));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));

        await scheduler.WhenIdleAsync();

        Assert.Single(_f.Dsn.Calls);
        Assert.Single(_f.RoutingRequests);
        Assert.Empty(_f.OpenStore().Load());
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2203 && e.Message.Contains("null sender", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true, 0)] // NOTIFY absent
    [InlineData(false, 1)] // NEVER
    [InlineData(false, 10)] // SUCCESS,DELAY
    public async Task No_bounce_for_the_null_sender_or_without_NOTIFY_FAILURE(bool nullSender, int notifyBits)
    {
        var agent = _f.Agent("local");
        agent.Behavior = (request, _) => Task.FromResult(FakeAgent.Permanent(request));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(nullSender ? null : Sender, MailParameters.Empty, "local", new RcptParameters { Notify = (DsnNotify)notifyBits }, "user@example.net"));

        await scheduler.WhenIdleAsync();

        Assert.Single(agent.Calls);
        Assert.Empty(_f.Dsn.Calls);
        Assert.Empty(_f.RoutingRequests);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task NOTIFY_SUCCESS_gets_a_delivered_DSN()
    {
        var agent = _f.Agent("local");
        agent.Behavior = (request, _) => Task.FromResult<IReadOnlyList<DeliveryResult>>([new DeliveryResult(request.Recipients[0].Id, DeliveryStatus.Delivered, "250 2.0.0 Ok: queued as X", "2.0.0", "lmtp.example.net")]);
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(Sender, MailParameters.Empty, "local", new RcptParameters { Notify = DsnNotify.Success }, "user@example.net"));

        await scheduler.WhenIdleAsync();

        var dsn = DsnParts.Parse(Assert.Single(_f.Dsn.Calls).Message);
        Assert.Equal("Delivery status notification: delivered", dsn.Message.Subject);
        var recipient = Assert.Single(dsn.Recipients);
        Assert.Equal("delivered", recipient["Action"]);
        Assert.Equal("2.0.0", recipient["Status"]);
        Assert.Equal("dns; lmtp.example.net", recipient["Remote-MTA"]);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task A_bounce_no_rule_accepts_is_dropped_and_logged_and_the_original_removed()
    {
        _f.BounceAction = null;
        var agent = _f.Agent("local");
        agent.Behavior = (request, _) => Task.FromResult(FakeAgent.Permanent(request));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));

        await scheduler.WhenIdleAsync();

        Assert.Empty(_f.Dsn.Calls);
        Assert.Empty(_f.OpenStore().Load());
        Assert.Contains(_f.BounceLog.Entries, e => e.EventId.Id == 2201);
    }

    [Fact]
    public async Task A_bounce_that_cannot_be_committed_keeps_the_original_envelope()
    {
        var agent = _f.Agent("local");
        agent.Behavior = (request, _) => Task.FromResult(FakeAgent.Permanent(request));
        var scheduler = await _f.StartAsync();
        var message = await _f.CommitAsync("user@example.net");
        Directory.Delete(_f.Store.IncomingPath);
        await File.WriteAllTextAsync(_f.Store.IncomingPath, "not a directory");
        scheduler.Enqueue(message);

        await scheduler.WhenIdleAsync();

        Assert.Empty(_f.Dsn.Calls);
        var record = Assert.Single(Assert.Single(_f.Store.Load()).Envelopes);
        Assert.Equal("550 5.1.1 No such user", record.LastError);
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2202);
    }

    private static Task WaitForAsync(Func<bool> condition) => SchedulerFixture.WaitForAsync(condition);
}
