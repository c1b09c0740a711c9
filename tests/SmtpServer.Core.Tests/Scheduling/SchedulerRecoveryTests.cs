using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>State in the spool after each attempt, restart recovery, crashes in flight, graceful stop.</summary>
public sealed class SchedulerRecoveryTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = SchedulerFixture.T0;
    private readonly SchedulerFixture _f = new();

    public ValueTask DisposeAsync() => _f.DisposeAsync();

    [Fact]
    public async Task Envelope_state_is_persisted_after_every_attempt()
    {
        var relay = _f.Agent("relay", isLocal: false);
        relay.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request, "452 4.2.2 \"quota\"\r\nDATA: injected}"));
        var scheduler = await _f.StartAsync();
        var message = await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "user@example.net");
        scheduler.Enqueue(message);

        await scheduler.WhenIdleAsync();
        var record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal(1, record.Attempts);
        Assert.Equal(T0, record.LastAttempt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(400), record.NextAttempt);
        Assert.Equal("452 4.2.2 \"quota\"\r\nDATA: injected}", record.LastError);
        Assert.Null(record.DelayWarned);

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(400));
        record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal(2, record.Attempts);
        Assert.Equal(T0 + TimeSpan.FromSeconds(400), record.LastAttempt);
        Assert.Equal(T0 + TimeSpan.FromSeconds(1600), record.NextAttempt);
    }

    [Fact]
    public async Task Messages_committed_while_no_scheduler_ran_are_delivered_at_start()
    {
        var agent = _f.Agent("local");
        await _f.CommitAsync("a@example.net");
        await _f.CommitAsync("b@example.net", "c@example.net");
        await _f.CommitAsync("d@example.net");

        _f.Restart();
        var scheduler = await _f.StartAsync();
        await scheduler.WhenIdleAsync();

        Assert.Equal(["a@example.net", "b@example.net", "c@example.net", "d@example.net"], agent.Calls.SelectMany(c => c.Request.Recipients).Select(r => r.RecipientMailbox.Address).Order());
        Assert.Empty(_f.OpenStore().Load());
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2100 && e.Message.Contains("3 messages, 4 envelopes", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_message_announced_around_start_and_found_by_Load_is_delivered_once(bool announcedLate)
    {
        var agent = _f.Agent("local");
        agent.Behavior = (request, _) => Task.FromResult(request.Recipients[0].Recipient.Domain == "ok.example" ? FakeAgent.Ok(request) : FakeAgent.Temporary(request));
        var scheduler = _f.CreateScheduler();
        var message = await _f.CommitAsync("a@ok.example", "b@later.example");

        // The session's one Enqueue races Load: it lands before the loop runs, or after a@ was
        // already delivered and removed while b@ is still queued. Either way, nothing twice.
        if (!announcedLate)
        {
            scheduler.Enqueue(message);
        }

        await scheduler.StartAsync(CancellationToken.None);
        await scheduler.WhenIdleAsync();
        if (announcedLate)
        {
            scheduler.Enqueue(message);
            await scheduler.WhenIdleAsync();
        }

        Assert.Equal(2, agent.Calls.Count);
        Assert.Equal("b@later.example", Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes).RecipientMailbox.Address);
    }

    [Fact]
    public async Task Envelopes_in_flight_at_a_crash_are_delivered_again_by_the_next_scheduler()
    {
        var stuck = _f.Agent("local");
        stuck.Behavior = async (request, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return FakeAgent.Ok(request);
        };
        var crashed = await _f.StartAsync();
        crashed.Enqueue(await _f.CommitAsync("a@example.net", "b@other.example"));
        await WaitForAsync(() => stuck.Calls.Count == 2);

        // The "crash": the first scheduler never finishes; a new process opens the same spool.
        var agent = _f.Agent("local");
        _f.Restart();
        var recovered = await _f.StartAsync();
        await recovered.WhenIdleAsync();

        Assert.Equal(["a@example.net", "b@other.example"], agent.Calls.SelectMany(c => c.Request.Recipients).Select(r => r.RecipientMailbox.Address).Order());
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task Stop_waits_for_deliveries_in_progress()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var agent = _f.Agent("local");
        agent.Behavior = async (request, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return FakeAgent.Ok(request);
        };
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));
        await WaitForAsync(() => agent.Calls.Count == 1);

        var stop = scheduler.StopAsync(CancellationToken.None);
        await Task.Delay(50);
        Assert.False(stop.IsCompleted);

        gate.SetResult();
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(_f.OpenStore().Load());
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2107);
    }

    [Fact]
    public async Task Stop_after_its_timeout_cancels_deliveries_and_leaves_their_envelopes_queued_as_they_were()
    {
        var agent = _f.Agent("local");
        agent.Behavior = async (request, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return FakeAgent.Ok(request);
        };
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));
        await WaitForAsync(() => agent.Calls.Count == 1);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await scheduler.StopAsync(timeout.Token).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2108);
        await Task.Delay(50);
        Assert.DoesNotContain(_f.Log.Entries, e => e.EventId.Id == 2101);
        var record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal(0, record.Attempts);
        Assert.Null(record.NextAttempt);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(5);
        }
    }
}
