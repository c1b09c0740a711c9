using System.Diagnostics;
using System.Text.Json;
using SmtpServer.Core.Queue;
using SmtpServer.Tests.Admin;
using SmtpServer.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SmtpServer.Tests.Hosting;

/// <summary>
/// Issue #7: SIGTERM is a drain. The real smtpd stops accepting, finishes its sessions, tries
/// the queue once more and exits 0, all within server.shutdownTimeout; a delivery the grace
/// cuts short is cancelled and its envelope stays queued (at-least-once).
/// </summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    internal static Func<SmtpdProcess, string> RelayTo(SwitchableSmtpPeer peer) => _ => $"""
        actions:
          outbound:
            relay:
              host: "{peer.Url}"

        rules:
          - from: any
            for: any
            action: outbound

        """;

    /// <summary>The envelope as the running server reports it (smtpctl --json show envelope).</summary>
    internal static async Task<JsonElement> EnvelopeAsync(SmtpdProcess smtpd, string id)
    {
        var shown = await SmtpctlTests.RunRawAsync(null, "-c", smtpd.ConfigPath, "--json", "show", "envelope", id);
        Assert.True(shown.Exit == 0, shown.Err + smtpd.OutputTail());
        return JsonDocument.Parse(shown.Out).RootElement.GetProperty("summary").Clone();
    }

    /// <summary>Until the envelope's <paramref name="attempts"/>-th attempt is over and recorded.</summary>
    internal static async Task WaitForAttemptsAsync(SmtpdProcess smtpd, string id, int attempts)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var envelope = await EnvelopeAsync(smtpd, id);
            if (envelope.GetProperty("state").GetString() != "inflight" && envelope.GetProperty("attempts").GetInt32() >= attempts)
            {
                return;
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), $"attempt {attempts} of {id} never ended:\n{smtpd.OutputTail()}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Sigterm_tries_the_queue_once_more_delivers_and_exits_0()
    {
        await using var peer = new SwitchableSmtpPeer();
        await using var smtpd = await SmtpdProcess.StartAsync(output, routing: RelayTo(peer), shutdownTimeout: "60s", admin: true);
        string id;
        await using (var client = await smtpd.ConnectAsync())
        {
            id = await TestMail.SendAsync(client, "alice@client.test", "bob@remote.example") + "-0000";
        }

        // Greylisted: the next retry is 400 s away, far beyond this test.
        await WaitForAttemptsAsync(smtpd, id, 1);
        Assert.Empty(peer.Messages);
        Assert.True((await EnvelopeAsync(smtpd, id)).GetProperty("nextAttempt").GetDateTimeOffset() > DateTimeOffset.UtcNow + TimeSpan.FromMinutes(5));

        peer.Accept = true;
        var exit = await smtpd.TerminateAsync(TimeSpan.FromSeconds(90));

        Assert.True(exit == 0, $"exit code {exit}:\n{smtpd.OutputTail()}");
        Assert.Contains("hello admin", Assert.Single(peer.Messages), StringComparison.Ordinal);
        Assert.Empty(QueueReader.Read(smtpd.QueuePath).Messages);
        Assert.Empty(smtpd.CorruptEntries());
        Assert.Empty(peer.Errors);
    }

    [Fact]
    public async Task The_grace_bounds_the_exit_and_a_delivery_it_cuts_short_stays_queued()
    {
        var grace = TimeSpan.FromSeconds(3);
        await using var peer = new SwitchableSmtpPeer { Hang = true };
        await using var smtpd = await SmtpdProcess.StartAsync(output, routing: RelayTo(peer), shutdownTimeout: "3s");
        string id;
        await using (var client = await smtpd.ConnectAsync())
        {
            id = await TestMail.SendAsync(client, "alice@client.test", "bob@remote.example") + "-0000";
        }

        // In flight: the peer never answers RCPT (the relay would wait its 5 min command timeout).
        var deadline = Stopwatch.StartNew();
        while (peer.Rcpts == 0)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), "the delivery never started:\n" + smtpd.OutputTail());
            await Task.Delay(50);
        }

        var clock = Stopwatch.StartNew();
        var exit = await smtpd.TerminateAsync(TimeSpan.FromSeconds(60));
        var took = clock.Elapsed;

        Assert.True(exit == 0, $"exit code {exit}:\n{smtpd.OutputTail()}");
        output.WriteLine($"exited {took.TotalSeconds:0.0} s after SIGTERM (grace {grace.TotalSeconds} s)");

        // It waited for the delivery (the grace), then no longer than the grace and the
        // process's own start and stop (generous: the test machine is shared).
        Assert.True(took >= grace - TimeSpan.FromSeconds(0.5), $"exited after {took}, before the grace of {grace}");
        Assert.True(took < grace + TimeSpan.FromSeconds(15), $"exited after {took}: the grace of {grace} did not bound it");
        Assert.Contains("shutdownTimeout ran out during the last queue pass", smtpd.Output, StringComparison.Ordinal);

        // Cancelled, not failed: the envelope is queued as before the attempt, for the next start.
        var envelope = Assert.Single(Assert.Single(QueueReader.Read(smtpd.QueuePath).Messages).Envelopes);
        Assert.Equal(id, envelope.Id.ToString());
        Assert.Equal(0, envelope.Attempts);
        Assert.Empty(peer.Messages);
    }
}
