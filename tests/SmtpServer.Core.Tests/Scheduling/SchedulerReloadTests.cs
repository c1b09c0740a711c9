using SmtpServer.Core.Delivery;
using SmtpServer.Core.Scheduling;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>
/// A configuration reload, delivery side (issue #4): new agents and limits; deliveries in
/// progress finish with the old agent, which is then disposed; mail of a removed action waits.
/// </summary>
public sealed class SchedulerReloadTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = SchedulerFixture.T0;
    private static readonly Mailbox Sender = new("sender", "example.org");
    private static readonly Dictionary<string, int> DefaultLimits = [];
    private readonly SchedulerFixture _f = new();

    public ValueTask DisposeAsync() => _f.DisposeAsync();

    [Fact]
    public async Task A_delivery_in_progress_finishes_with_the_old_agent_new_ones_use_the_new_agent_then_the_old_one_is_disposed()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var old = _f.Agent("local");
        old.Behavior = async (request, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return FakeAgent.Ok(request);
        };
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("first@example.net"));
        await WaitForAsync(() => old.Concurrent == 1);

        var replacement = new FakeAgent("local", isLocal: true, _f.Time);
        await scheduler.ReconfigureAsync(new AgentSet(replacement), 100, DefaultLimits);
        scheduler.Enqueue(await _f.CommitAsync("second@example.net"));
        await WaitForAsync(() => !replacement.Calls.IsEmpty);

        Assert.Equal("second@example.net", Assert.Single(Assert.Single(replacement.Calls).Request.Recipients).RecipientMailbox.Address);
        Assert.Equal(0, old.DisposeCount); // still delivering
        Assert.Equal(1, old.Concurrent);

        gate.SetResult();
        await old.Disposed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await scheduler.WhenIdleAsync();
        Assert.Equal("first@example.net", Assert.Single(Assert.Single(old.Calls).Request.Recipients).RecipientMailbox.Address);
        Assert.Empty(_f.OpenStore().Load());
        Assert.Equal(0, replacement.DisposeCount);
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2119);
    }

    [Fact]
    public async Task An_idle_agent_is_disposed_at_the_reload_and_every_agent_when_the_scheduler_stops()
    {
        var old = _f.Agent("local");
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("a@example.net"));
        await scheduler.WhenIdleAsync();

        var replacement = new FakeAgent("local", isLocal: true, _f.Time);
        await scheduler.ReconfigureAsync(new AgentSet(replacement), 100, DefaultLimits);
        await old.Disposed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        scheduler.Enqueue(await _f.CommitAsync("b@example.net"));
        await scheduler.WhenIdleAsync();
        Assert.Single(replacement.Calls);

        await scheduler.StopAsync(CancellationToken.None);
        Assert.Equal(1, replacement.DisposeCount);
        Assert.Equal(1, old.DisposeCount);
    }

    [Fact]
    public async Task Mail_of_an_action_the_reload_removed_waits_and_goes_as_soon_as_a_reload_brings_it_back()
    {
        _f.Agent("local");
        var scheduler = await _f.StartAsync();
        await scheduler.ReconfigureAsync(new AgentSet(), 100, DefaultLimits);
        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));
        await scheduler.WhenIdleAsync();

        var record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal("action \"local\" is not configured", record.LastError);
        Assert.Equal(T0 + TimeSpan.FromSeconds(400), record.NextAttempt);
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2102 && e.Message.Contains("local", StringComparison.Ordinal));

        // Back, long before the retry is due: it is tried at once, on the clock that has not moved.
        var back = new FakeAgent("local", isLocal: true, _f.Time);
        await scheduler.ReconfigureAsync(new AgentSet(back), 100, DefaultLimits);
        await scheduler.WhenIdleAsync();
        Assert.Equal([T0], back.CallTimes);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task Per_action_and_total_limits_follow_the_reload_counting_the_old_agents_calls()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<DeliveryRequest, CancellationToken, Task<IReadOnlyList<DeliveryResult>>> held = async (request, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return FakeAgent.Ok(request);
        };
        var old = _f.Agent("local");
        old.Behavior = held;
        for (var i = 0; i < 10; i++)
        {
            await _f.CommitAsync(Sender, MailParameters.Empty, "local", RcptParameters.Empty, $"u{i}@example.net");
        }

        var scheduler = await _f.StartAsync(new SchedulerOptions { ActionConcurrency = new Dictionary<string, int> { ["local"] = 2 } });
        await WaitForAsync(() => old.Concurrent == 2);

        // actions.local.maxDeliveries: 2 -> 5: the new agent gets the 3 slots the old one does not use.
        var replacement = new FakeAgent("local", isLocal: true, _f.Time) { Behavior = held };
        await scheduler.ReconfigureAsync(new AgentSet(replacement), 100, new Dictionary<string, int> { ["local"] = 5 });
        await WaitForAsync(() => replacement.Concurrent == 3);
        await Task.Delay(100);
        Assert.Equal(5, old.Concurrent + replacement.Concurrent);

        // queue.maxDeliveries: 100 -> 1: nothing new starts until all but one call ended.
        var third = new FakeAgent("local", isLocal: true, _f.Time);
        await scheduler.ReconfigureAsync(new AgentSet(third), 1, new Dictionary<string, int> { ["local"] = 5 });
        gate.SetResult();
        await scheduler.WhenIdleAsync();
        Assert.Equal(5, third.Calls.Count);
        Assert.Equal(1, third.MaxConcurrent);
        Assert.Equal(10, old.Calls.Count + replacement.Calls.Count + third.Calls.Count);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task An_agent_the_new_factory_would_build_the_same_is_kept_and_a_changed_one_is_replaced()
    {
        var old = _f.Agent("local");
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("a@example.net"));
        await scheduler.WhenIdleAsync();

        // Unchanged: the running agent stays (not disposed) and delivers the next mail.
        var unused = new FakeAgent("local", isLocal: true, _f.Time);
        await scheduler.ReconfigureAsync(new AgentSet(unused) { Unchanged = ["local"] }, 100, DefaultLimits);
        scheduler.Enqueue(await _f.CommitAsync("b@example.net"));
        await scheduler.WhenIdleAsync();
        Assert.Equal(2, old.Calls.Count);
        Assert.Equal(0, old.DisposeCount);
        Assert.Empty(unused.Calls);

        // Changed: a new agent, and the old one is disposed.
        var replacement = new FakeAgent("local", isLocal: true, _f.Time);
        await scheduler.ReconfigureAsync(new AgentSet(replacement), 100, DefaultLimits);
        scheduler.Enqueue(await _f.CommitAsync("c@example.net"));
        await scheduler.WhenIdleAsync();
        await old.Disposed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, old.Calls.Count);
        Assert.Single(replacement.Calls);
        Assert.Empty(unused.Calls);
        Assert.Equal(0, unused.DisposeCount);
    }

    private static Task WaitForAsync(Func<bool> condition) => SchedulerFixture.WaitForAsync(condition);

    /// <summary>A reloaded configuration's agents, by action name; <see cref="Unchanged"/> names the actions whose agents it keeps.</summary>
    private sealed class AgentSet(params FakeAgent[] agents) : IDeliveryAgentFactory
    {
        public IReadOnlyCollection<string> Unchanged { get; init; } = [];

        public IDeliveryAgent? Create(string action) => agents.FirstOrDefault(a => a.Action.Equals(action, StringComparison.OrdinalIgnoreCase));

        public bool CanKeep(string action, IDeliveryAgentFactory previous) => Unchanged.Contains(action, StringComparer.OrdinalIgnoreCase);
    }
}
