using SmtpServer.Core.Delivery;
using SmtpServer.Core.Tests.Bounces;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>
/// An agent's "not now, at T" (<see cref="DeliveryStatus.Deferred"/>, a relay's rate limit):
/// offered again at T, not counted as an attempt, nothing recorded, never past the expiry.
/// </summary>
public sealed class SchedulerDeferralTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = SchedulerFixture.T0;
    private readonly SchedulerFixture _f = new();

    public ValueTask DisposeAsync() => _f.DisposeAsync();

    private static IReadOnlyList<DeliveryResult> Deferred(DeliveryRequest request, DateTimeOffset at) =>
        [.. request.Recipients.Select(r => DeliveryResult.Deferred(r.Id, at, "rate limit of example.net (2 per 00:01:00)"))];

    [Fact]
    public async Task A_deferral_comes_back_at_its_time_and_is_not_an_attempt()
    {
        var relay = _f.Agent("relay", isLocal: false);
        var calls = 0;
        relay.Behavior = (request, _) => Task.FromResult(++calls == 1 ? Deferred(request, T0 + TimeSpan.FromSeconds(90)) : FakeAgent.Temporary(request));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "user@example.net"));

        // Deferred: the spool still says "never tried".
        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(60));
        var record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal(0, record.Attempts);
        Assert.Null(record.LastError);
        Assert.Null(record.LastAttempt);
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2117 && e.Message.Contains("rate limit of example.net", StringComparison.Ordinal));
        Assert.DoesNotContain(_f.Log.Entries, e => e.EventId.Id == 2101);

        // At 90 s the real first attempt fails; its retry is the first one's (400 s·1²), not a second's (400 s·2²).
        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(500));
        Assert.Equal([T0, T0 + TimeSpan.FromSeconds(90), T0 + TimeSpan.FromSeconds(400)], relay.CallTimes);
        Assert.Equal(2, Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes).Attempts);
    }

    [Fact]
    public async Task A_deferral_past_the_expiry_ends_in_the_expiry_bounce_with_no_delay_warning()
    {
        var relay = _f.Agent("relay", isLocal: false);
        relay.Behavior = (request, _) => Task.FromResult(Deferred(request, T0 + TimeSpan.FromDays(5)));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "user@example.net"));

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromDays(6));

        Assert.Equal([T0], relay.CallTimes);
        var call = Assert.Single(_f.Dsn.Calls);
        Assert.Equal(T0 + TimeSpan.FromDays(4), call.At);
        Assert.Equal("5.4.7", Assert.Single(DsnParts.Parse(call.Message).Recipients)["Status"]);
        Assert.Empty(_f.OpenStore().Load());
    }

    [Fact]
    public async Task A_deferral_without_a_future_time_waits_a_second_instead_of_spinning()
    {
        var relay = _f.Agent("relay", isLocal: false);
        var calls = 0;
        relay.Behavior = (request, _) => Task.FromResult(++calls == 1 ? Deferred(request, T0 - TimeSpan.FromSeconds(5)) : FakeAgent.Ok(request));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "user@example.net"));

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(10));

        Assert.Equal([T0, T0 + TimeSpan.FromSeconds(1)], relay.CallTimes);
        Assert.Empty(_f.OpenStore().Load());
    }
}
