using SmtpServer.Core.Queue;
using SmtpServer.Core.Scheduling;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>Pauses of envelopes are kept in the spool (across restarts); paused sides hold their deliveries.</summary>
public sealed class SchedulerPauseTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = SchedulerFixture.T0;
    private readonly SchedulerFixture _f = new();

    public ValueTask DisposeAsync() => _f.DisposeAsync();

    private EnvelopeRecord Stored() => Assert.Single(Assert.Single(QueueReader.Read(_f.Directory.Path).Messages).Envelopes);

    [Fact]
    public async Task A_paused_envelope_stays_paused_across_a_restart_until_resumed()
    {
        var agent = _f.Agent("local");
        agent.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request));
        var scheduler = await _f.StartAsync();
        var message = await _f.CommitAsync("user@example.net");
        scheduler.Enqueue(message);
        await scheduler.WhenIdleAsync();

        var paused = await ((ISchedulerControl)scheduler).PauseAsync(new QueueSelector(message.Id, null), true, CancellationToken.None);
        Assert.Equal(new ControlResult(1, 0), paused);
        Assert.True(Stored().Paused);
        Assert.Equal(1, Stored().Attempts);
        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromHours(1));
        Assert.Single(agent.Calls);

        await scheduler.DisposeAsync();
        _f.Restart();
        scheduler = await _f.StartAsync();
        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromHours(2));
        Assert.Single(agent.Calls);
        var state = await ((ISchedulerControl)scheduler).InspectAsync(CancellationToken.None);
        Assert.Equal(EnvelopeRuntimeState.Paused, Assert.Single(state.Values));
        Assert.Equal(1, scheduler.Stats.Paused);

        agent.Behavior = (request, _) => Task.FromResult(FakeAgent.Ok(request));
        var resumed = await ((ISchedulerControl)scheduler).PauseAsync(QueueSelector.All, false, CancellationToken.None);
        Assert.Equal(new ControlResult(1, 0), resumed);
        await scheduler.WhenIdleAsync();
        Assert.Equal(2, agent.Calls.Count);
        Assert.Empty(QueueReader.Read(_f.Directory.Path).Messages);
        Assert.Equal(0, scheduler.Stats.Paused);
    }

    [Fact]
    public async Task A_resume_is_written_before_the_envelope_moves_again()
    {
        _f.Agent("local").Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request));
        var scheduler = await _f.StartAsync();
        var message = await _f.CommitAsync("user@example.net");
        scheduler.Enqueue(message);
        await scheduler.WhenIdleAsync();
        var control = (ISchedulerControl)scheduler;
        await control.PauseAsync(QueueSelector.All, true, CancellationToken.None);

        await control.PauseAsync(QueueSelector.All, false, CancellationToken.None);

        Assert.False(Stored().Paused);
        Assert.Equal(EnvelopeRuntimeState.Pending, Assert.Single((await control.InspectAsync(CancellationToken.None)).Values));
    }

    [Fact]
    public async Task Pausing_an_envelope_in_flight_is_written_when_its_attempt_ends()
    {
        var agent = _f.Agent("local");
        var release = new TaskCompletionSource();
        agent.Behavior = async (request, _) =>
        {
            await release.Task;
            return FakeAgent.Temporary(request);
        };
        var scheduler = await _f.StartAsync();
        var message = await _f.CommitAsync("user@example.net");
        scheduler.Enqueue(message);
        var control = (ISchedulerControl)scheduler;
        while (agent.Calls.IsEmpty)
        {
            await Task.Delay(10);
        }

        Assert.Equal(new ControlResult(1, 0), await control.PauseAsync(new QueueSelector(null, message.Envelopes[0].Id), true, CancellationToken.None));
        Assert.Equal(EnvelopeRuntimeState.InFlight, Assert.Single((await control.InspectAsync(CancellationToken.None)).Values));
        Assert.False(Stored().Paused);

        release.SetResult();
        await scheduler.WhenIdleAsync();

        var stored = Stored();
        Assert.True(stored.Paused);
        Assert.Equal(1, stored.Attempts);
        Assert.Single(stored.History!.Attempts);
        Assert.Equal(EnvelopeRuntimeState.Paused, Assert.Single((await control.InspectAsync(CancellationToken.None)).Values));
        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromHours(1));
        Assert.Single(agent.Calls);
    }

    [Fact]
    public async Task An_envelope_paused_while_it_waits_for_a_paused_side_is_written_at_once_and_not_delivered_on_resume()
    {
        var relay = _f.Agent("relay", isLocal: false);
        var scheduler = await _f.StartAsync(new SchedulerOptions { RelayPaused = true });
        var control = (ISchedulerControl)scheduler;
        var held = await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "held@example.net", "free@example.net");
        scheduler.Enqueue(held);
        await scheduler.WhenIdleAsync();
        var states = await control.InspectAsync(CancellationToken.None);
        Assert.All(states.Values, s => Assert.Equal(EnvelopeRuntimeState.Pending, s));

        await control.PauseAsync(new QueueSelector(null, held.Envelopes[0].Id), true, CancellationToken.None);
        var stored = Assert.Single(QueueReader.Read(_f.Directory.Path).Messages).Envelopes;
        Assert.Equal([true, false], stored.Select(e => e.Paused));

        await control.PauseSideAsync(local: false, paused: false, CancellationToken.None);
        await scheduler.WhenIdleAsync();
        Assert.Equal(["free@example.net"], relay.Calls.SelectMany(c => c.Request.Recipients).Select(r => r.RecipientMailbox.Address));
        Assert.Equal(EnvelopeRuntimeState.Paused, Assert.Single((await control.InspectAsync(CancellationToken.None)).Values));
        Assert.True(Stored().Paused);

        // A whole delivery paused while it waits ends without an agent call.
        await control.PauseSideAsync(local: false, paused: true, CancellationToken.None);
        var second = await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "later@example.net");
        scheduler.Enqueue(second);
        await scheduler.WhenIdleAsync();
        await control.PauseAsync(new QueueSelector(second.Id, null), true, CancellationToken.None);
        await control.PauseSideAsync(local: false, paused: false, CancellationToken.None);
        await scheduler.WhenIdleAsync();
        Assert.Single(relay.Calls);
        Assert.Equal(2, scheduler.Stats.Paused);
    }

    [Fact]
    public async Task A_side_paused_at_start_holds_its_deliveries_without_keeping_the_scheduler_busy()
    {
        var relay = _f.Agent("relay", isLocal: false);
        var local = _f.Agent("local");
        var scheduler = await _f.StartAsync(new SchedulerOptions { RelayPaused = true });
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "far@example.net"));
        scheduler.Enqueue(await _f.CommitAsync("near@example.net"));

        // Idle although the relay's delivery waits: it waits for the operator.
        await scheduler.WhenIdleAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Empty(relay.Calls);
        Assert.Single(local.Calls);
        Assert.True(scheduler.Stats.RelayPaused);
        Assert.False(scheduler.Stats.LocalPaused);

        await ((ISchedulerControl)scheduler).PauseSideAsync(local: false, paused: false, CancellationToken.None);
        await scheduler.WhenIdleAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Single(relay.Calls);
        Assert.Empty(QueueReader.Read(_f.Directory.Path).Messages);
    }
}
