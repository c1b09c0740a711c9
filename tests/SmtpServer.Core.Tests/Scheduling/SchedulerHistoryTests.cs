using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>The scheduler records every attempt in the envelope's history, as the agents report it.</summary>
public sealed class SchedulerHistoryTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = SchedulerFixture.T0;
    private readonly SchedulerFixture _f = new();

    public ValueTask DisposeAsync() => _f.DisposeAsync();

    private IReadOnlyList<AttemptRecord> StoredHistory() =>
        Assert.Single(Assert.Single(QueueReader.Read(_f.Directory.Path).Messages).Envelopes).History?.Attempts ?? [];

    [Fact]
    public async Task A_sequence_of_relay_results_becomes_the_history_the_next_attempt_sees()
    {
        var relay = _f.Agent("relay", isLocal: false);
        var answers = new Queue<Func<EnvelopeRecord, DeliveryResult>>(
        [
            e => DeliveryResult.Temporary(e.Id, "4.7.1", "mx1.example.org [192.0.2.1] answered 451 4.7.1 greylisted (after RCPT TO)")
                with { RemoteMta = "mx1.example.org [192.0.2.1]", RemoteHost = "mx1.example.org", RemoteAddress = "192.0.2.1", TlsProtocol = "TLSv1.3" },
            e => DeliveryResult.Temporary(e.Id, "4.4.1", "Network error on destination MXs: mx2.example.org [192.0.2.2]: Connection refused")
                with { RemoteHost = "mx2.example.org", RemoteAddress = "192.0.2.2" },
            e => DeliveryResult.Ok(e.Id) with { Diagnostic = "250 2.0.0 queued as 7F3A", RemoteMta = "mx1.example.org [192.0.2.1]", RemoteHost = "mx1.example.org", RemoteAddress = "192.0.2.1", TlsProtocol = "TLSv1.3" },
        ]);
        relay.Behavior = (request, _) => Task.FromResult<IReadOnlyList<DeliveryResult>>([.. request.Recipients.Select(answers.Dequeue())]);
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "user@example.net"));

        await scheduler.WhenIdleAsync();
        var first = Assert.Single(StoredHistory());
        Assert.Equal(
            new AttemptRecord
            {
                Number = 1,
                At = T0,
                Action = "relay",
                Result = AttemptResult.Temporary,
                Host = "mx1.example.org",
                Address = "192.0.2.1",
                Tls = "TLSv1.3",
                Reply = "mx1.example.org [192.0.2.1] answered 451 4.7.1 greylisted (after RCPT TO)",
            },
            first);

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(400));
        var two = StoredHistory();
        Assert.Equal([1, 2], two.Select(a => a.Number));
        Assert.Equal(first, two[0]);
        Assert.Equal((T0 + TimeSpan.FromSeconds(400), "mx2.example.org", "192.0.2.2", (string?)null), (two[1].At, two[1].Host, two[1].Address, two[1].Tls));
        Assert.Contains("Connection refused", two[1].Reply, StringComparison.Ordinal);

        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(1600));
        Assert.Empty(QueueReader.Read(_f.Directory.Path).Messages);
        var third = relay.Calls.Last().Request.Recipients[0];
        Assert.Equal(2, third.Attempts);
        Assert.Equal(two, third.History!.Attempts);
        Assert.Contains(_f.Log.Entries, e => e.EventId.Id == 2101 && e.Message.Contains("result=Ok", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_thrown_agent_and_an_unconfigured_action_are_attempts_too()
    {
        var relay = _f.Agent("relay", isLocal: false);
        relay.Behavior = (_, _) => throw new InvalidOperationException("agent bug");
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "relay", RcptParameters.Empty, "a@example.net"));
        scheduler.Enqueue(await _f.CommitAsync(new Mailbox("sender", "example.org"), MailParameters.Empty, "nowhere", RcptParameters.Empty, "b@example.net"));
        await scheduler.WhenIdleAsync();

        var attempts = QueueReader.Read(_f.Directory.Path).Messages.SelectMany(m => m.Envelopes).ToDictionary(e => e.Action, e => Assert.Single(e.History!.Attempts));
        Assert.Equal((AttemptResult.Temporary, "relay: agent bug", (string?)null), (attempts["relay"].Result, attempts["relay"].Reply, attempts["relay"].Host));
        Assert.Equal((AttemptResult.Temporary, "action \"nowhere\" is not configured"), (attempts["nowhere"].Result, attempts["nowhere"].Reply));
    }

    [Fact]
    public async Task A_long_local_retry_series_keeps_the_first_and_the_last_attempts()
    {
        var local = _f.Agent("local");
        local.Behavior = (request, _) => Task.FromResult<IReadOnlyList<DeliveryResult>>(
            [.. request.Recipients.Select(e => DeliveryResult.Temporary(e.Id, "4.3.0", "maildir: No space left on device") with { Destination = "/var/mail/user/Maildir" })]);
        var scheduler = await _f.StartAsync();
        scheduler.Enqueue(await _f.CommitAsync("user@example.net"));

        // Local retries at 10 s·n²: the 30th attempt comes at 10 s · 29².
        await _f.RunUntilAsync(scheduler, T0 + TimeSpan.FromSeconds(10 * 29 * 29));

        Assert.Equal(30, local.Calls.Count);
        var record = Assert.Single(Assert.Single(QueueReader.Read(_f.Directory.Path).Messages).Envelopes);
        Assert.Equal(30, record.Attempts);
        Assert.Equal([1, 2, 3, 4, 5, .. Enumerable.Range(11, 20)], record.History!.Attempts.Select(a => a.Number));
        Assert.Equal(5, record.History.Dropped);
        Assert.All(record.History.Attempts, a => Assert.Equal(("/var/mail/user/Maildir", T0 + TimeSpan.FromSeconds(10 * (a.Number - 1) * (a.Number - 1))), (a.Destination, a.At)));
    }
}
