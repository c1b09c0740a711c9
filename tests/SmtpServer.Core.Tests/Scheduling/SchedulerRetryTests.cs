using Microsoft.Extensions.Logging;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Scheduling;
using SmtpServer.Core.Tests.Bounces;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>The schedule on a fake clock: first attempt, retry times, expiry, delay warnings.</summary>
public sealed class SchedulerRetryTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = SchedulerFixture.T0;
    private readonly SchedulerFixture _f = new();

    public ValueTask DisposeAsync() => _f.DisposeAsync();

    [Fact]
    public async Task First_attempt_is_immediate_and_a_delivered_envelope_leaves_the_spool()
    {
        var agent = _f.Agent("local");
        var scheduler = await _f.StartAsync();

        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));

        Assert.Null(await scheduler.WhenIdleAsync());
        var call = Assert.Single(agent.Calls);
        Assert.Equal(T0, call.At);
        Assert.Equal("user@example.net", Assert.Single(call.Request.Recipients).RecipientMailbox.Address);
        Assert.Empty(_f.OpenStore().Load());
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2101 && e.Message.Contains("rcpt=<user@example.net> action=local result=Ok delay=0s stat=Delivered", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true, 10)]
    [InlineData(false, 400)]
    public async Task Retries_come_at_arrival_plus_base_times_n_squared(bool isLocal, int baseSeconds)
    {
        var agent = _f.Agent("local", isLocal);
        agent.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(baseSeconds * 25));

        Assert.Equal([.. new[] { 0, 1, 4, 9, 16, 25 }.Select(n => T0 + TimeSpan.FromSeconds(baseSeconds * n))], agent.CallTimes);
    }

    [Fact]
    public async Task Four_days_of_relay_retries_end_in_exactly_one_expiry_bounce_and_the_envelope_is_removed()
    {
        var relay = _f.Agent("relay", isLocal: false);
        relay.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request, "421 4.4.2 mx.example.net: connection timed out"));
        var scheduler = await _f.StartAsync();
        var message = await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "user@example.net");
        scheduler.Enqueue(message);

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromDays(6));

        // 400 s·n² for n = 0..29 stays within 4 days (29² · 400 s = 3.9 d); the 30th retry would not.
        Assert.Equal([.. Enumerable.Range(0, 30).Select(n => T0 + TimeSpan.FromSeconds(400L * n * n))], relay.CallTimes);
        // The delay warning at 4 h, then exactly one bounce at expiry.
        Assert.Equal([T0 + TimeSpan.FromHours(4), T0 + TimeSpan.FromDays(4)], _f.Dsn.CallTimes);
        Assert.Equal("delayed", Assert.Single(DsnParts.Parse(_f.Dsn.Calls.First().Message).Recipients)["Action"]);
        var dsnCall = _f.Dsn.Calls.Last();
        var dsn = DsnParts.Parse(dsnCall.Message);
        Assert.Equal("Delivery status notification: failed", dsn.Message.Subject);
        var recipient = Assert.Single(dsn.Recipients);
        Assert.Equal("failed", recipient["Action"]);
        Assert.Equal("5.4.7", recipient["Status"]);
        Assert.Equal("smtp; 421 4.4.2 mx.example.net: connection timed out", recipient["Diagnostic-Code"]);
        Assert.Equal(T0 + TimeSpan.FromSeconds(400 * 29 * 29), MimeKit.Utils.DateUtils.TryParse(recipient["Last-Attempt-Date"], out var last) ? last : default);
        Assert.Contains("Envelope expired", dsn.Report[0].ToString(), StringComparison.Ordinal);

        // The DSN went from <> to the sender, and the original is gone; so is the delivered DSN.
        Assert.Null(Assert.Single(dsnCall.Request.Recipients).Sender);
        Assert.Equal("sender@example.org", dsnCall.Request.Recipients[0].RecipientMailbox.Address);
        Assert.Empty(_f.OpenStore().Load());
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2104);
    }

    [Fact]
    public async Task Delay_warning_goes_out_once_at_four_hours_and_is_recorded_in_the_envelope()
    {
        var mda = _f.Agent("mda");
        mda.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request, "451 4.2.2 mailbox full"));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "mda", RcptParameters.Empty, "user@example.net"));

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromHours(12));

        var call = Assert.Single(_f.Dsn.Calls);
        Assert.Equal(T0 + TimeSpan.FromHours(4), call.At);
        var dsn = DsnParts.Parse(call.Message);
        Assert.Equal("Delivery status notification: delayed", dsn.Message.Subject);
        var recipient = Assert.Single(dsn.Recipients);
        Assert.Equal("delayed", recipient["Action"]);
        Assert.Equal("4.2.2", recipient["Status"]);
        Assert.Equal("smtp; 451 4.2.2 mailbox full", recipient["Diagnostic-Code"]);
        Assert.NotNull(recipient["Will-Retry-Until"]);
        Assert.IsType<MimeKit.TextRfc822Headers>(dsn.Report[2]);

        var record = Assert.Single(Assert.Single(_f.OpenStore().Load()).Envelopes);
        Assert.Equal(TimeSpan.FromHours(4), record.DelayWarned);
        Assert.True(record.Attempts > 30);
    }

    [Fact]
    public async Task Each_delay_warning_step_is_sent_once()
    {
        var mda = _f.Agent("mda");
        mda.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request));
        var scheduler = await _f.StartAsync(new SchedulerOptions { DelayWarnings = [TimeSpan.FromHours(1), TimeSpan.FromHours(4)] });
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "mda", RcptParameters.Empty, "user@example.net"));

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromHours(12));

        Assert.Equal([T0 + TimeSpan.FromHours(1), T0 + TimeSpan.FromHours(4)], _f.Dsn.CallTimes);
    }

    [Fact]
    public async Task NOTIFY_without_DELAY_gets_no_warning_but_still_a_bounce()
    {
        var mda = _f.Agent("mda");
        mda.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request));
        var scheduler = await _f.StartAsync(new SchedulerOptions { Expire = TimeSpan.FromHours(6) });
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "mda", new RcptParameters { Notify = DsnNotify.Failure }, "user@example.net"));

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromHours(8));

        var call = Assert.Single(_f.Dsn.Calls);
        Assert.Equal(T0 + TimeSpan.FromHours(6), call.At);
        Assert.Equal("failed", Assert.Single(DsnParts.Parse(call.Message).Recipients)["Action"]);
    }

    [Fact]
    public async Task NOTIFY_NEVER_expires_without_any_DSN()
    {
        var mda = _f.Agent("mda");
        mda.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request));
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "mda", new RcptParameters { Notify = DsnNotify.Never }, "user@example.net"));

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromDays(5));

        Assert.Empty(_f.Dsn.Calls);
        Assert.Empty(_f.OpenStore().Load());
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2203 && e.Level == LogLevel.Information);
    }

    [Fact]
    public async Task A_restarted_scheduler_keeps_the_recorded_retry_time()
    {
        var relay = _f.Agent("relay", isLocal: false);
        relay.Behavior = (request, _) => Task.FromResult(FakeAgent.Temporary(request));
        var first = await _f.StartAsync();
        first.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "user@example.net"));
        await first.WhenIdleAsync();
        await first.StopAsync(CancellationToken.None);

        _f.Time.Advance(TimeSpan.FromSeconds(100));
        _f.Restart();
        var second = await _f.StartAsync();
        await _f.RunUntilAsync(second, T0 + TimeSpan.FromSeconds(1600));

        Assert.Equal([T0, T0 + TimeSpan.FromSeconds(400), T0 + TimeSpan.FromSeconds(1600)], relay.CallTimes);
    }

    [Fact]
    public void Retry_schedule_skips_past_slots_and_stops_at_expiry()
    {
        var expires = T0 + TimeSpan.FromDays(4);
        Assert.Equal(T0 + TimeSpan.FromSeconds(10), RetrySchedule.Next(T0, 1, TimeSpan.FromSeconds(10), T0, expires));
        Assert.Equal(T0 + TimeSpan.FromSeconds(40), RetrySchedule.Next(T0, 2, TimeSpan.FromSeconds(10), T0 + TimeSpan.FromSeconds(10), expires));

        // An attempt that ended late (or a restart after an outage) takes the next slot in the future.
        Assert.Equal(T0 + TimeSpan.FromSeconds(90), RetrySchedule.Next(T0, 2, TimeSpan.FromSeconds(10), T0 + TimeSpan.FromSeconds(50), expires));
        Assert.Equal(T0 + TimeSpan.FromSeconds(400 * 30 * 30), RetrySchedule.Next(T0, 1, TimeSpan.FromSeconds(400), T0 + TimeSpan.FromDays(4), T0 + TimeSpan.FromDays(5)));
        Assert.Equal(expires, RetrySchedule.Next(T0, 29, TimeSpan.FromSeconds(400), T0 + TimeSpan.FromSeconds(400 * 29 * 29), expires));
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(59, "59s")]
    [InlineData(3723, "1h2m3s")]
    [InlineData(345600, "4d")]
    public void Delay_is_logged_as_OpenSMTPD_does(int seconds, string expected) =>
        Assert.Equal(expected, Scheduler.FormatDelay(TimeSpan.FromSeconds(seconds)));
}
